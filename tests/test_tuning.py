"""The tuning loop on every backend, with a qualifier whose verdicts follow the ICP's own
thresholds (tests.sample_qualifiers:by_threshold), so the numbers can be worked out here:
rescore (lineage, bad input), diff (exactly the domains that change) and eval (a confusion
matrix computed by hand)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.tuning.compare import CSV_EXTRA_COLUMNS
from tests.support import ICP, Stack, assert_consistent, create_run
from tests.test_cli import invoke, work_all

BY_THRESHOLD = "tests.sample_qualifiers:by_threshold"
# Scores (tests.sample_qualifiers._result): firm0-9 35-44, firm10-13 84-87, firm14 88,
# firm15 89, firm20-22 85-87.
DOMAINS = [f"firm{i}.com" for i in (*range(16), 20, 21, 22)]


def write_icp(path: Path, **fields: object) -> str:
    path.write_text(json.dumps({**ICP, **fields}))
    return str(path)


@pytest.fixture
def source(app: Qualify, tmp_path: Path) -> int:
    run_id = create_run(app, DOMAINS, qualifier=BY_THRESHOLD)
    work_all(app)
    return run_id


def rescored(app: Qualify, stack: Stack, source: int, tmp_path: Path, **icp: object) -> int:
    result = invoke(
        *stack.cli, "rescore", str(source), "--icp", write_icp(tmp_path / "v2.json", **icp),
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    work_all(app)
    return int(run_id)


def test_rescore_is_a_new_linked_run_over_the_same_domains(
    app: Qualify, stack: Stack, source: int, tmp_path: Path
) -> None:
    run_id = rescored(app, stack, source, tmp_path, qualified_at=88, review_at=40)
    run = app.runs.get(run_id)
    assert (run.status, run.total, run.completed, run.source_run_id) == (
        "COMPLETED", len(DOMAINS), len(DOMAINS), source,
    )  # fmt: skip
    assert run.max_page_age is None  # kept pages of any age
    assert [r.domain for r in app.runs.records(run_id)] == DOMAINS  # the source's order
    assert_consistent(app, run_id)
    assert app.runs.get(source).completed == len(DOMAINS)  # the source is left as it was

    status = json.loads(invoke(*stack.cli, "status", str(run_id), "--json").stdout)
    assert status["source_run_id"] == source
    assert status["lineage"]["icp_changes"] == ["qualified_at 88 (new)", "review_at 40 (new)"]
    assert status["lineage"]["text"] == (
        f"rescore of {source}, ICP changed: qualified_at 88 (new); review_at 40 (new)"
    )
    shown = invoke(*stack.cli, "show", str(run_id)).stdout
    assert f"rescore of {source}, ICP changed: qualified_at 88" in shown
    listing = json.loads(invoke(*stack.cli, "status", "--json").stdout)["runs"]
    assert [r["source_run_id"] for r in listing] == [source, None]


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["rescore", "99", "--icp", "{icp}"], "run 99"),
        (["rescore", "1", "--icp", "missing.json"], "missing.json"),
        (["rescore", "1", "--icp", "{bad}"], "bad.json"),
        (["rescore", "1", "--icp", "{icp}", "--qualifier", "llm"], "QUALIFY_LLM_MODEL"),
        (["rescore", "1", "--icp", "{icp}", "--qualifier", "no_such_module:go"], "no_such_module"),
        (["rescore", "1"], "--icp"),
    ],
)
def test_rescore_refuses_bad_input_in_one_line_and_writes_nothing(
    app: Qualify, stack: Stack, source: int, tmp_path: Path, args: list[str], culprit: str
) -> None:
    icp = write_icp(tmp_path / "icp.json")
    (tmp_path / "bad.json").write_text("{not json")
    args = [a.format(icp=icp, bad=str(tmp_path / "bad.json")) for a in args]
    before = stack.snapshot()
    result = invoke(*stack.cli, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], lines
    assert stack.snapshot() == before


def test_llm_without_a_model_is_refused(app: Qualify, stack: Stack, source: int, tmp_path: Path):
    result = invoke(*stack.cli, "rescore", "1", "--icp", write_icp(tmp_path / "i.json"),
                    "--qualifier", "llm")  # fmt: skip
    assert result.output.strip() == (
        "Error: model: required by the llm qualifier; give --model or set QUALIFY_LLM_MODEL"
    )


def test_diff_names_exactly_the_domains_that_changed(
    app: Qualify, stack: Stack, source: int, tmp_path: Path
) -> None:
    run_id = rescored(app, stack, source, tmp_path, qualified_at=88, review_at=40)
    found = json.loads(invoke(*stack.cli, "diff", str(source), str(run_id), "--json").stdout)
    groups = {
        (g["before"], g["after"]): [d["domain"] for d in g["domains"]] for g in found["groups"]
    }
    assert groups == {
        ("qualified", "review"): [f"firm{i}.com" for i in (10, 11, 12, 13, 20, 21, 22)],
        ("unqualified", "review"): [f"firm{i}.com" for i in range(5, 10)],
    }
    assert (found["changed"], found["unchanged"]) == (12, len(DOMAINS) - 12)
    assert [g["count"] for g in found["groups"]] == [7, 5]
    first = found["groups"][0]["domains"][0]
    assert (first["score_before"], first["score_after"]) == (84, 84)

    text = invoke(*stack.cli, "diff", str(source), str(run_id)).stdout
    assert "qualified → review: 7" in text and "unqualified → review: 5" in text
    assert "firm10.com" in text and "84 → 84" in text

    out = tmp_path / "changed.csv"
    written = invoke(
        *stack.cli, "diff", str(source), str(run_id), "--format", "csv", "-o", str(out)
    )
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    header = list(rows[0])
    exported = invoke(*stack.cli, "export", str(run_id)).stdout
    assert header == [*next(csv.reader(io.StringIO(exported))), *CSV_EXTRA_COLUMNS]
    assert [(r["domain"], r["change"], r["verdict"]) for r in rows][:2] == [
        ("firm5.com", "unqualified → review", "review"),
        ("firm6.com", "unqualified → review", "review"),
    ]
    assert len(rows) == 12 and rows[0]["score_before"] == "40"


def test_diff_of_a_run_with_itself_is_empty_and_unknown_runs_exit_2(
    app: Qualify, stack: Stack, source: int
) -> None:
    same = json.loads(invoke(*stack.cli, "diff", str(source), str(source), "--json").stdout)
    assert (same["changed"], same["unchanged"], same["groups"]) == (0, len(DOMAINS), [])
    missing = invoke(*stack.cli, "diff", str(source), "42")
    assert missing.exit_code == 2 and missing.output.strip() == "Error: run 42: no such run"


def test_diff_counts_domains_only_one_run_has(app: Qualify, stack: Stack, source: int) -> None:
    other = create_run(app, ["firm0.com", "newcomer.com"], qualifier=BY_THRESHOLD)
    work_all(app)
    found = app.diff(source, other)
    groups = {key: [c.domain for c in changes] for key, changes in found.groups.items()}
    assert groups[("absent", "unqualified")] == ["newcomer.com"]
    assert len(groups[("qualified", "absent")]) == 9 and len(groups[("unqualified", "absent")]) == 9
    assert found.unchanged == 1  # firm0.com


LABELS = """Domain;Label;Notes
firm10.com;Yes;TP
firm11.com;no;FP
firm12.com;QUALIFIED;TP
https://www.firm13.com/;yes;TP, written as a URL
firm14.com;No ;FP
firm0.com;YES;FN
firm1.com;No;TN
firm2.com;Unqualified;TN, an exact verdict
firm3.com;;not labelled
absent.com;yes;not in the run
"""


def test_eval_numbers_worked_out_by_hand(
    app: Qualify, stack: Stack, source: int, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(LABELS)
    result = invoke(*stack.cli, "eval", str(source), str(labels), "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    # Run verdicts: firm10-14 qualified, firm0-2 unqualified.
    # Labelled positive: firm10, 12, 13 (qualified: TP 3), firm0 (unqualified: FN 1).
    # Labelled "no": firm11, firm14 (qualified: FP 2), firm1 (unqualified: agrees).
    # firm2 labelled unqualified, judged unqualified: agrees.
    assert found["confusion"] == {
        "qualified": {"qualified": 3, "unqualified": 1},
        "unqualified": {"unqualified": 1},
        "not qualified": {"qualified": 2, "unqualified": 1},
    }
    assert (found["labelled"], found["judged"], found["agreed"]) == (9, 8, 5)
    assert found["agreement"] == pytest.approx(5 / 8)
    assert found["qualified"] == {
        "true_positives": 3, "false_positives": 2, "false_negatives": 1,
        "precision": pytest.approx(3 / 5), "recall": pytest.approx(3 / 4),
    }  # fmt: skip
    assert found["missing"] == ["absent.com"]
    assert found["unlabelled_rows"] == 1
    wrong = {
        (d["domain"], d["label"], d["verdict"], d["direction"]) for d in found["disagreements"]
    }
    assert wrong == {
        ("firm11.com", "not qualified", "qualified", "up"),
        ("firm14.com", "not qualified", "qualified", "up"),
        ("firm0.com", "qualified", "unqualified", "down"),
    }
    # by_threshold's one reason ("name", a match) lifted the two it qualified wrongly.
    assert [(c["criterion"], c["direction"], c["count"]) for c in found["criteria"]] == [
        ("name", "up", 2)
    ]
    text = invoke(*stack.cli, "eval", str(source), str(labels)).stdout
    assert "agreement 62.5% (5 of 8" in text and "precision 60.0%" in text
    assert "1 not in the run (absent.com)" in text


def test_eval_counts_labelled_domains_without_a_verdict(app: Qualify, stack: Stack, tmp_path):
    run_id = create_run(
        app, ["permanent-x.com", "firm10.com"], qualifier="tests.sample_qualifiers:by_name"
    )
    work_all(app)
    labels = tmp_path / "l.csv"
    labels.write_text("domain,label\npermanent-x.com,yes\nfirm10.com,yes\n")
    found = app.evaluate(run_id, str(labels))
    assert found.not_judged == [("permanent-x.com", "failed")]
    assert (found.judged, found.agreed) == (1, 1)


@pytest.mark.parametrize(
    ("content", "culprit"),
    [
        (None, "labels.csv: no such file"),
        ("", "labels.csv: empty file"),
        ("name,label\nacme.com,yes\n", "labels.csv: no domain column (header: name, label)"),
        ("domain,verdict\nacme.com,yes\n", "labels.csv: no label column"),
        ("domain,label\nacme.com,maybe\n", "labels.csv:2: label 'maybe'"),
        ("domain,label\nnot a domain!,yes\n", "labels.csv:2: 'not a domain!' is not a domain"),
        ("domain,label\nacme.com,yes\nACME.com,no\n", "labels.csv:3: acme.com is labelled"),
        ("domain,label\nacme.com,\n", "labels.csv: no labelled rows"),
        ("domain,label\n,yes\n", "labels.csv:2: label 'yes' without a domain"),
        (b"domain,label\nm\xfcller.de,yes\n", "labels.csv: not UTF-8"),
        ('domain,label\n"acme.com,yes\n', "labels.csv"),
    ],
)
def test_eval_refuses_a_bad_labels_file_in_one_line_and_writes_nothing(
    app: Qualify, stack: Stack, source: int, content: str | bytes | None, culprit: str
) -> None:
    path = Path("labels.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    before = stack.snapshot()
    result = invoke(*stack.cli, "eval", str(source), "labels.csv")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {culprit}"), lines
    assert stack.snapshot() == before


def test_eval_of_an_unknown_run_exits_2(app: Qualify, stack: Stack, tmp_path: Path) -> None:
    Path("labels.csv").write_text("domain,label\nacme.com,yes\n")
    result = invoke(*stack.cli, "eval", "7", "labels.csv")
    assert result.exit_code == 2 and result.output.strip() == "Error: run 7: no such run"
