"""Lists from a CRM in: CSV, TSV and XLSX files as HubSpot, Salesforce and Excel write them,
every encoding and line ending people have, the websites' column found (or asked for), and
the row numbers of what was skipped. Fixture files: tests/fixtures/inputs/."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest

from qualify.domains import read_domains
from qualify.errors import InputError
from qualify.inputs import ColumnError, load_domains
from qualify.textfile import line_blocks
from tests.support import BY_NAME, ICP, Stack
from tests.test_cli import invoke

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "inputs"
HUBSPOT = FIXTURES / "hubspot-companies.csv"
SALESFORCE = FIXTURES / "salesforce-accounts.csv"
SEMICOLON_1252 = FIXTURES / "excel-semicolon-windows1252.csv"
UNICODE_TEXT = FIXTURES / "excel-unicode-text.txt"


def carried(path: Path | str, **options: object) -> dict[str, dict[str, str]]:
    """Each queued domain with the cells its job carries, by column name."""
    listed = load_domains(str(path), **options)  # type: ignore[arg-type]
    by_position = {position: json.loads(row) for position, row in listed.rows}
    return {
        domain: dict(zip(listed.columns, by_position[i], strict=True))
        for i, domain in enumerate(listed.domains)
        if i in by_position
    }


# -- the shapes CRMs and spreadsheets export -------------------------------------------------


def test_a_hubspot_export_with_quoted_commas_and_two_website_columns() -> None:
    listed = load_domains(str(HUBSPOT))
    assert (listed.format, listed.unit) == ("csv", "line")
    # Both columns name websites and agree on every row where both are filled: the domain
    # column is read, and Website URL where it is empty (Globex).
    assert listed.domain_column == "Company Domain Name"
    assert listed.fallback_columns == ["Website URL"]
    assert listed.domains == [
        "shopify.com", "acme-freight.de", "globex.io", "initech.com", "umbrella.co.uk",
    ]  # fmt: skip
    assert listed.duplicates == 1  # Acme Freight twice: the first row is kept
    assert [(bad.line, bad.text) for bad in listed.invalid] == [(7, "n/a")]
    rows = carried(HUBSPOT)
    assert rows["shopify.com"]["Company name"] == "Shopify, Inc."  # not cut at its comma
    assert rows["shopify.com"]["Record ID"] == "5001"
    assert rows["globex.io"]["Website URL"] == "http://www.globex.io"
    assert rows["acme-freight.de"]["Record ID"] == "5002"  # the first of the duplicates
    assert len(rows["shopify.com"]) == 8  # every column, by default


def test_a_salesforce_export_keeps_physical_line_numbers_past_a_multiline_cell() -> None:
    listed = load_domains(str(SALESFORCE))
    assert listed.domain_column == "Website" and listed.fallback_columns == []
    assert listed.domains == ["sennder.com", "forto.com", "transporeon.com"]
    # The Forto row's description spans two lines, so the row after it starts on line 6.
    assert [(bad.line, bad.reason) for bad in listed.invalid] == [(6, "no website in this row")]
    forto = carried(SALESFORCE)["forto.com"]
    assert forto["Description"] == "Multi-line\ndescription, with a comma"
    assert forto["Website"] == "https://forto.com/en/"  # the URL as written


def test_a_semicolon_file_in_windows_1252_from_german_excel() -> None:
    listed = load_domains(str(SEMICOLON_1252))
    assert listed.format == "csv" and listed.domain_column == "Webseite"
    assert listed.domains == ["mueller-logistik.de", "baecker-soehne.de", "strassenbau-gross.de"]
    row = carried(SEMICOLON_1252)["mueller-logistik.de"]
    # Decoded as Windows-1252, and split on semicolons, not on the decimal commas.
    assert row == {"Firma": "Müller Logistik GmbH", "Webseite": "mueller-logistik.de",
                   "Ort": "München", "Mitarbeiter": "85", "Umsatz (Mio)": "1,5"}  # fmt: skip


def test_excel_unicode_text_is_utf16_tab_separated_under_a_txt_name() -> None:
    assert UNICODE_TEXT.read_bytes()[:2] == b"\xff\xfe"
    listed = load_domains(str(UNICODE_TEXT))
    assert listed.format == "tsv" and listed.domain_column == "Website"
    assert listed.domains == ["xn--bcher-kva.de", "zuerich-freight.ch", "nandu-logistica.es"]
    assert carried(UNICODE_TEXT)["xn--bcher-kva.de"]["City"] == "Köln"


def test_utf16_big_endian_and_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    text = "Company,Website\r\nBücher,bücher.de\r\n"
    for encoding, name in (("utf-16-be", "be.csv"), ("utf-8-sig", "bom.csv")):
        data = (b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding)
        (tmp_path / name).write_bytes(data)
        listed = load_domains(str(tmp_path / name))
        assert listed.columns == ["Company", "Website"], name  # no BOM glued to "Company"
        assert listed.domains == ["xn--bcher-kva.de"], name


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_every_line_ending_gives_the_same_rows_and_line_numbers(
    tmp_path: Path, ending: bytes
) -> None:
    lines = [b"Name,Website", b"Acme,acme.com", b"Broken,not a site", b"Globex,globex.io"]
    path = tmp_path / "leads.csv"
    path.write_bytes(ending.join(lines) + ending)
    listed = load_domains(str(path))
    assert listed.domains == ["acme.com", "globex.io"]
    assert [bad.line for bad in listed.invalid] == [3]
    # A plain list too.
    plain = read_domains(io.BytesIO(ending.join([b"acme.com", b"bad one", b"globex.io"])), "d")
    assert plain.domains == ["acme.com", "globex.io"] and plain.invalid[0].line == 2


def test_a_crlf_split_across_blocks_is_one_line_break() -> None:
    # The reader cuts blocks at line breaks; a CR at a block's end must wait for its LF.
    chunks = [b"acme.com\r", b"\nglobex.io\r", b"\r\ninitech.com"]
    lines = [line for block in line_blocks(chunks, "d") for line in block]
    assert lines == ["acme.com", "globex.io", "", "initech.com"]


def test_an_xlsx_workbook_by_sheet_with_excel_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    workbook = openpyxl.Workbook()
    notes = workbook.active
    notes.title = "Notes"
    notes.append(["nothing here", "to read"])
    sheet = workbook.create_sheet("Companies")
    sheet.append(["Account ID", "Company", "Website", "Employees"])
    sheet.append([1001, "Acme", "https://www.acme.com/", 250])
    sheet.append([])  # an empty row between blocks, as people leave them
    sheet.append([1002, "Broken", "not a website", 3.0])
    sheet.append([1003, "Globex", "globex.io", None])
    workbook.save(path)

    listed = load_domains(str(path), sheet="Companies")
    assert (listed.format, listed.unit, listed.domain_column) == ("xlsx", "row", "Website")
    assert listed.domains == ["acme.com", "globex.io"]
    assert [(bad.line, bad.text) for bad in listed.invalid] == [(4, "not a website")]
    rows = carried(path, sheet="Companies")
    assert rows["acme.com"] == {"Account ID": "1001", "Company": "Acme",
                                "Website": "https://www.acme.com/", "Employees": "250"}  # fmt: skip
    assert rows["globex.io"]["Employees"] == ""

    with pytest.raises(InputError, match=r"no sheet 'Leads' \(sheets: 'Notes', 'Companies'\)"):
        load_domains(str(path), sheet="Leads")
    # The first sheet by default: it has no website column.
    with pytest.raises(ColumnError, match="no column looks like websites"):
        load_domains(str(path))


def test_an_xlsx_workbook_on_stdin_and_a_damaged_one(tmp_path: Path, stack: Stack) -> None:
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Website"])
    workbook.active.append(["acme.com"])
    workbook.save(path)
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    result = invoke(*stack.cli, "run", str(icp), "-", "--qualifier", BY_NAME,
                    stdin=path.read_bytes())  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 queued from column 'Website'" in result.stdout

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match=r"broken\.xlsx: not a readable \.xlsx workbook"):
        load_domains(str(broken))


def test_a_plain_list_with_a_header_line_and_a_one_column_csv(tmp_path: Path) -> None:
    plain = tmp_path / "domains.txt"
    plain.write_text("Domain\nacme.com\nhttps://www.globex.io/x\n")
    listed = load_domains(str(plain))
    assert listed.format == "text" and listed.invalid == []  # the header is not a bad line
    assert carried(plain) == {"globex.io": {"input": "https://www.globex.io/x"}}
    single = tmp_path / "sites.csv"
    single.write_text("acme.com\nglobex.io\n")
    assert load_domains(str(single)).domains == ["acme.com", "globex.io"]


def test_a_headerless_table_names_its_columns_by_number(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Acme,acme.com,Berlin\nGlobex,globex.io,Paris\n")
    listed = load_domains(str(path))
    assert listed.columns == ["column 1", "column 2", "column 3"]
    assert listed.domain_column == "column 2" and listed.domains == ["acme.com", "globex.io"]


# -- choosing the column ---------------------------------------------------------------------


def test_a_named_column_by_name_case_or_number_and_what_is_carried(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Id,Site A,Site B,Owner\n1,acme.com,other.com,Ann\n")
    for name in ("Site B", "site b", "3"):
        assert load_domains(str(path), column=name).domains == ["other.com"], name
    rows = carried(path, column="Site A", carry=["Id"])
    assert rows == {"acme.com": {"Id": "1", "Site A": "acme.com"}}  # the websites always
    with pytest.raises(ColumnError, match=r"no column 'Nope' \(columns: 'Id', 'Site A'"):
        load_domains(str(path), carry=["Nope"], column="Site A")


def test_an_email_column_is_not_taken_for_websites(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Name,E-mail,Homepage\nAnn,ann@acme.com,acme.com\nBob,bob@globex.io,\n")
    assert load_domains(str(path)).domain_column == "Homepage"
    # No header names websites: by content, the addresses are not taken for domains.
    by_content = tmp_path / "contacts.csv"
    by_content.write_text("Name,Contact,Link\nAnn,ann@acme.com,https://acme.com\n")
    assert load_domains(str(by_content)).domain_column == "Link"


def _run_args(tmp_path: Path, name: str, content: str) -> list[str]:
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    (tmp_path / name).write_text(content)
    return ["run", str(icp), str(tmp_path / name), "--qualifier", BY_NAME]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "Company,Website,Domain\nAcme,acme.com,globex.io\n",
            "leads.csv: 2 columns could hold the websites: 'Website', 'Domain' (columns:"
            " 'Company', 'Website', 'Domain'); choose with --column NAME",
        ),
        (
            "Company,Owner,City\nAcme,Ann,Berlin\n",
            "leads.csv: no column looks like websites or domains (columns: 'Company', 'Owner',"
            " 'City'); choose with --column NAME",
        ),
        (
            "Name,Primary,Secondary\nAcme,acme.com,acme-group.com\n",
            "leads.csv: 2 columns hold domains: 'Primary', 'Secondary'",
        ),
    ],
    ids=["ambiguous by name", "none", "ambiguous by content"],
)
def test_ambiguous_or_missing_columns_exit_2_naming_them_and_write_nothing(
    tmp_path: Path, stack: Stack, content: str, message: str
) -> None:
    before = stack.snapshot()
    result = invoke(*stack.cli, *_run_args(tmp_path, "leads.csv", content))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert stack.snapshot() == before


def test_a_column_that_does_not_exist_and_options_that_do_not_apply(
    tmp_path: Path, stack: Stack
) -> None:
    before = stack.snapshot()
    args = _run_args(tmp_path, "leads.csv", "Company,Website\nAcme,acme.com\n")
    cases = [
        (["--column", "Webiste"], "no column 'Webiste' (columns: 'Company', 'Website')"),
        (["--sheet", "One"], "leads.csv: only an .xlsx workbook has sheets"),
        (["--carry", "Owner"], "no column 'Owner'"),
    ]
    for extra, message in cases:
        result = invoke(*stack.cli, *args, *extra)
        assert result.exit_code == 2 and message in result.stderr, (extra, result.stderr)
    plain = _run_args(tmp_path, "domains.txt", "acme.com\n")
    result = invoke(*stack.cli, *plain, "--column", "Website")
    assert result.exit_code == 2 and "a plain list of domains has no columns" in result.stderr
    old_excel = _run_args(tmp_path, "leads.xls", "binary")
    result = invoke(*stack.cli, *old_excel)
    assert result.exit_code == 2 and "save it as .xlsx or CSV" in result.stderr
    assert stack.snapshot() == before


def test_run_reports_rows_skipped_with_their_numbers(tmp_path: Path, stack: Stack) -> None:
    result = invoke(*stack.cli, "run", *_icp(tmp_path), str(HUBSPOT), "--qualifier", BY_NAME)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Run 1 (Test ICP / hubspot-companies.csv): 5 queued from column 'Company Domain Name'"
        " (else 'Website URL'), 1 duplicate and 1 invalid line skipped"
    )
    assert f"skipped {HUBSPOT}:7: 'n/a': no public suffix" in result.stderr
    document = json.loads(
        invoke(*stack.cli, "run", *_icp(tmp_path), str(SALESFORCE), "--qualifier", BY_NAME,
               "--json").stdout
    )  # fmt: skip
    assert document["format"] == "csv" and document["column"] == "Website"
    assert document["invalid"] == [
        {"line": 6, "text": "0015g00000AbCdHAAV, No Website Inc, France, Retail, 30, no site",
         "reason": "no website in this row"},
    ]  # fmt: skip


def _icp(tmp_path: Path) -> list[str]:
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    return [str(icp)]


def test_input_format_option_overrides_what_the_file_looks_like(tmp_path: Path) -> None:
    path = tmp_path / "odd.dat"
    path.write_text("Website;Name\nacme.com;Acme\n")
    assert load_domains(str(path)).format == "csv"  # sniffed
    with pytest.raises(InputError, match="no valid domain"):
        load_domains(str(path), input_format="text")  # each line as a domain
    tabbed = tmp_path / "tabs.csv"
    tabbed.write_text("Website\tName\nacme.com\tAcme\n")
    assert load_domains(str(tabbed), input_format="tsv").domains == ["acme.com"]


def test_an_unclosed_quote_names_the_line_where_its_record_starts(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text('Name,Website\nAcme,acme.com\n"Broken,globex.io\nInitech,initech.com\n')
    with pytest.raises(InputError, match=r"leads\.csv:3: cannot read this record \(unexpected"):
        load_domains(str(path))
    # Nor may a megabyte in one cell be read as a record.
    path.write_text('Name,Website\n"' + "x" * 1_100_000 + '",acme.com\n')
    with pytest.raises(InputError, match=r"leads\.csv:2: cannot read this record"):
        load_domains(str(path))


def test_long_cells_are_cut_to_the_carried_size(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Website,Notes\nacme.com," + "n" * 5000 + "\n")
    listed = load_domains(str(path))
    assert listed.cut_cells == 1
    notes = carried(path)["acme.com"]["Notes"]
    assert len(notes) == 1000 and notes.endswith("…")


def test_a_large_table_is_streamed_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("Record ID,Company,Website\n")
        for i in range(60_000):
            out.write(f'{i},"Company {i}, Inc.",https://www.company{i % 50_000}.com/\n')
    listed = load_domains(str(path))
    assert len(listed.domains) == 50_000 and listed.duplicates == 10_000
    assert len(listed.rows) == 50_000
    last = list(listed.rows)[-1]
    assert last[0] == 49_999 and json.loads(last[1])[0] == "49999"
