"""Rows a CRM can take back out: the input row travels with each job and comes back in the
export, beside flat columns, one line per cell; the file joins back on the CRM's own ids."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import openpyxl
import pytest

from qualify import export
from qualify.api import Qualify, prepare_run
from tests.support import ICP, Stack, assert_consistent, write_inputs
from tests.test_cli import invoke, work_all
from tests.test_inputs import HUBSPOT, SALESFORCE

PROFILE = "tests.sample_qualifiers:profile"


def _run(app: Qualify, path: Path | str, *, qualifier: str = PROFILE, **options: object) -> int:
    icp = Path(path).parent / "icp.json"
    if not icp.exists():
        icp = Path.cwd() / "icp.json"
        icp.write_text(json.dumps(ICP))
    prepared = prepare_run(str(icp), str(path), qualifier, **options)  # type: ignore[arg-type]
    run_id = app.create_run(prepared, backoff=0.05).run_id
    work_all(app)
    return run_id


def _input_rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row[key]: row for row in csv.DictReader(fh)}


def test_every_exported_row_joins_back_to_its_input_row(app: Qualify, stack: Stack) -> None:
    run_id = _run(app, HUBSPOT)
    assert_consistent(app, run_id)
    text = invoke(*stack.cli, "export", str(run_id)).stdout
    exported = list(csv.DictReader(io.StringIO(text)))
    source = _input_rows(HUBSPOT, "Record ID")
    assert len(exported) == 5  # the duplicate and the row without a website are not jobs
    for row in exported:
        original = source[row["Record ID"]]
        # Every input column comes back under its own name, with its value as written.
        for column, value in original.items():
            assert row[column] == value, (column, row["Record ID"])
    by_id = {row["Record ID"]: row for row in exported}
    assert by_id["5003"]["domain"] == "globex.io"  # read from Website URL, domain empty
    assert by_id["5001"]["Company name"] == "Shopify, Inc."
    # Then qualify's columns, flat: no JSON cell, no line break in any cell.
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*source["5001"], *export.RESULT_COLUMNS]
    assert len(text.splitlines()) == 1 + len(exported)
    shopify = by_id["5001"]
    assert (shopify["company_name"], shopify["country"], shopify["employees"]) == (
        "Shopify GmbH",
        "DE",
        "51-200",
    )
    assert shopify["industry"] == "Logistics software"
    assert shopify["technologies"] == "HubSpot; Segment"
    assert shopify["confidence"] == "0.8" and shopify["tier"] in ("A", "C")
    assert shopify["reason_1"] == (
        "industries: match (+30) - Logistics software: 'freight' in title: 'Shopify – freight'"
    )
    assert shopify["reason_2"] == "countries: match (+20) - DE (footer: '© GmbH, Berlin')"
    assert shopify["reason_3"].startswith("employees: partial (+10)")


def test_error_code_and_message_are_separate_columns(
    app: Qualify, stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "Id,Website\n1,permanent-acme.com\n2,unknown-dns-globex.io\n3,transient9-initech.com\n"
    )
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    prepared = prepare_run(str(icp), str(path), "tests.sample_qualifiers:by_name")
    run_id = app.create_run(prepared, max_attempts=1, backoff=0.05).run_id
    work_all(app)
    text = invoke(*stack.cli, "export", str(run_id)).stdout
    rows = {r["Id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["1"]["state"], rows["1"]["error_code"], rows["1"]["error_message"]) == (
        "failed",
        "nope",
        "permanent-acme.com cannot be judged",
    )
    # A result that could not be judged: the qualifier's code, its message from the reason.
    assert (rows["2"]["verdict"], rows["2"]["error_code"], rows["2"]["error_message"]) == (
        "unknown",
        "dns_nxdomain",
        "unknown-dns-globex.io could not be read",
    )
    assert rows["3"]["error_code"] == "flaky" and rows["3"]["state"] == "failed"
    assert app.runs.get(run_id).unknown == 1


def test_columns_pick_and_order_and_a_clash_keeps_the_crms_column(
    app: Qualify, stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Record ID,Domain,Country,Score\n77,acme.com,France,12\n")
    run_id = _run(app, path)
    text = invoke(*stack.cli, "export", str(run_id)).stdout
    (row,) = csv.DictReader(io.StringIO(text))
    # The CRM's own Country and Score stay as they were; qualify's are prefixed.
    assert (row["Country"], row["qualify_country"]) == ("France", "DE")
    assert row["Score"] == "12" and row["qualify_score"] != ""
    assert row["Domain"] == "acme.com" and row["qualify_domain"] == "acme.com"
    picked = invoke(
        *stack.cli, "export", str(run_id), "--columns", "Record ID,verdict,qualify_score,reasons"
    ).stdout
    lines = picked.splitlines()
    assert lines[0] == "Record ID,verdict,qualify_score,reasons"
    assert len(lines) == 2 and lines[1].startswith("77,")
    assert " | countries: match" in lines[1]  # all reasons, on one line


def test_unknown_columns_are_refused_before_anything_is_written(
    app: Qualify, stack: Stack, tmp_path: Path
) -> None:
    run_id = _run(app, SALESFORCE)
    out = tmp_path / "out.csv"
    result = invoke(*stack.cli, "export", str(run_id), "--columns", "Account ID,nope", "-o",
                    str(out))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --columns: no column 'nope' to export; choose from")
    assert "Account ID" in result.stderr and "reason_1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".qualify-export-")]


def test_multiline_reasons_when_asked(app: Qualify, stack: Stack) -> None:
    run_id = _run(app, SALESFORCE)
    text = invoke(*stack.cli, "export", str(run_id), "--multiline-reasons", "--columns",
                  "Account ID,reasons,Description").stdout  # fmt: skip
    rows = {r["Account ID"]: r for r in csv.DictReader(io.StringIO(text))}
    forto = rows["0015g00000AbCdFAAV"]
    assert forto["reasons"].count("\n") >= 3
    assert forto["Description"] == "Multi-line\ndescription, with a comma"
    flat = invoke(*stack.cli, "export", str(run_id), "--columns", "Account ID,Description").stdout
    assert "Multi-line description, with a comma" in flat


def test_a_plain_list_carries_the_url_as_written(app: Qualify, stack: Stack) -> None:
    icp, domains = write_inputs(Path.cwd(), ["https://www.Acme.com/about", "globex.io"])
    run_id = app.create_run(prepare_run(icp, domains, PROFILE)).run_id
    work_all(app)
    rows = list(csv.DictReader(io.StringIO(invoke(*stack.cli, "export", str(run_id)).stdout)))
    assert [(r["input"], r["domain"]) for r in rows] == [
        ("https://www.Acme.com/about", "acme.com"),
        ("globex.io", "globex.io"),
    ]
    lines = invoke(*stack.cli, "export", str(run_id), "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["input"] for line in lines] == [
        {"input": "https://www.Acme.com/about"},
        {"input": "globex.io"},
    ]


def test_json_rows_carry_the_input_row_by_column(app: Qualify, stack: Stack) -> None:
    run_id = _run(app, HUBSPOT)
    document = json.loads(invoke(*stack.cli, "export", str(run_id), "--format", "json").stdout)
    assert document[0]["input"]["Record ID"] == "5001"
    assert document[0]["input"]["Company name"] == "Shopify, Inc."
    assert document[0]["domain"] == "shopify.com"


def test_an_xlsx_export_round_trips_and_holds_no_formula(
    app: Qualify, stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text('Record ID,Company,Website\n9,"=HYPERLINK(""http://x"")",acme.com\n')
    run_id = _run(app, path)
    out = tmp_path / "results.xlsx"
    result = invoke(*stack.cli, "export", str(run_id), "--format", "xlsx", "-o", str(out))
    assert result.exit_code == 0 and "Wrote 1 row to" in result.stderr
    sheet = openpyxl.load_workbook(out).active
    header, row = ([cell.value for cell in r] for r in sheet.iter_rows())
    assert header == ["Record ID", "Company", "Website", *export.RESULT_COLUMNS]
    values = dict(zip(header, row, strict=True))
    assert values["Record ID"] == "9" and values["score"] == int(values["score"])
    company = sheet.cell(row=2, column=2)
    assert company.value == '=HYPERLINK("http://x")' and company.data_type == "s"


def test_an_old_run_exports_with_the_same_columns(app: Qualify, stack: Stack) -> None:
    # Runs made before jobs carried their input rows have no `inputs`: their domains are
    # their input.
    icp, domains = write_inputs(Path.cwd(), ["acme.com"])
    run_id = app.create_run(prepare_run(icp, domains, PROFILE)).run_id
    from tests.support import raw

    raw(app).execute("UPDATE runs SET inputs = NULL WHERE id = ?", (run_id,))
    (row,) = csv.DictReader(io.StringIO(invoke(*stack.cli, "export", str(run_id)).stdout))
    assert (row["input"], row["domain"], row["state"]) == ("acme.com", "acme.com", "queued")


@pytest.mark.parametrize("count", [3000])
def test_input_rows_find_their_jobs_when_ids_have_gaps(
    app: Qualify, tmp_path: Path, count: int
) -> None:
    # Another run's jobs between this run's ids (PostgreSQL, two runs created at once): the
    # rows are matched to the run's own ids in order, not by arithmetic.
    path = tmp_path / "leads.csv"
    path.write_text("Id,Website\n" + "".join(f"{i},c{i}.com\n" for i in range(count)))
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    first = app.create_run(prepare_run(str(icp), str(path), PROFILE)).run_id
    listed = prepare_run(str(icp), str(path), PROFILE).domains
    walked = list(app.runs._input_rows(first, -5, count, listed.rows))  # ids read back
    ids = [job_id for job_id, _ in walked]
    assert len(ids) == count and ids == list(range(ids[0], ids[0] + count))
    counted = list(app.runs._input_rows(first, ids[0] - 1, count, listed.rows))  # arithmetic
    assert counted == walked
    assert [json.loads(row)[0] for _, row in walked[:3]] == ["0", "1", "2"]
    stored = {r.job_id: r.input for r in app.runs.records(first)}
    assert all(stored[job_id] == json.loads(row) for job_id, row in walked)


def test_show_names_the_input_row_a_domain_came_from(app: Qualify, stack: Stack) -> None:
    run_id = _run(app, SALESFORCE)
    shown = invoke(*stack.cli, "show", str(run_id), "https://Forto.com/en/").stdout
    assert re.search(r"^Input\s+Account ID: 0015g00000AbCdFAAV\s*$", shown, re.MULTILINE)
    assert re.search(r"^\s+Description: Multi-line description, with a comma", shown, re.M)


def test_carry_none_keeps_only_the_websites(app: Qualify, stack: Stack, tmp_path: Path) -> None:
    run_id = _run(app, HUBSPOT, carry=[])
    header = invoke(*stack.cli, "export", str(run_id)).stdout.splitlines()[0].split(",")
    assert header[:2] == ["Company Domain Name", "Website URL"]
    icp, domains = write_inputs(tmp_path, ["https://www.acme.com/x"])
    plain = app.create_run(prepare_run(icp, domains, PROFILE, carry=[])).run_id
    (row,) = csv.DictReader(io.StringIO(invoke(*stack.cli, "export", str(plain)).stdout))
    assert row["input"] == "acme.com"  # the line as written was not kept
