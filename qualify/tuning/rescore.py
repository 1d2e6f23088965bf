"""Re-scoring a run with another ICP: a new run over the same domains, linked to its source,
whose qualifier reads kept pages of any age instead of fetching (domains without kept pages
are fetched as in any run). It is an ordinary run: queued jobs, leases, exactly one result
per domain, resumable after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qualify import qualifiers
from qualify.errors import InputError
from qualify.inputs import load_icp, source_name
from qualify.store import Run, RunPlan
from qualify.tuning.icpdiff import icp_changes

#: Names of qualifiers that are announced but not built yet (the llm qualifier now is: it
#: rescores from kept pages, and its verdict cache makes an unchanged ICP free).
NOT_YET: dict[str, str] = {}


@dataclass(frozen=True)
class PreparedRescore:
    source: Run
    icp: dict[str, Any]
    qualifier: str
    default_name: str
    icp_changes: list[str]


@dataclass(frozen=True)
class Lineage:
    """Where a run comes from: the run it re-scores and what changed."""

    source_run_id: int
    qualifier_before: str
    qualifier_after: str
    icp_changes: list[str]

    def describe(self) -> str:
        """``rescore of 3, ICP changed: employees.max 1000 → 5000``"""
        text = f"rescore of {self.source_run_id}"
        if self.qualifier_before != self.qualifier_after:
            text += f", qualifier {self.qualifier_before} → {self.qualifier_after}"
        if self.icp_changes:
            text += ", ICP changed: " + "; ".join(self.icp_changes)
        else:
            text += ", same ICP"
        return text


def prepare_rescore(
    source: Run, source_plan: RunPlan, icp_path: str, qualifier: str | None
) -> PreparedRescore:
    """Check a rescore's inputs before anything is written: the qualifier (the source run's
    by default), then the ICP against it."""
    name = qualifier or source.qualifier
    if name in NOT_YET and name not in qualifiers.BUILTIN:
        raise InputError(
            f"qualifier {name!r}: {NOT_YET[name]}; rescore takes web or MODULE:CALLABLE"
        )
    qualifiers.resolve(name)
    icp = load_icp(icp_path)
    try:
        qualifiers.check(name, icp)
    except InputError as exc:
        raise InputError(f"{source_name(icp_path)}: {exc}") from None
    label = icp.get("name") if isinstance(icp.get("name"), str) and icp.get("name") else None
    default_name = f"rescore of {source.id}" + (f": {label}" if label else "")
    return PreparedRescore(source, icp, name, default_name, icp_changes(source_plan.icp, icp))


def lineage_of(run: Run, plan: RunPlan, source_plan: RunPlan) -> Lineage:
    return Lineage(
        source_run_id=source_plan.id,
        qualifier_before=source_plan.qualifier,
        qualifier_after=run.qualifier,
        icp_changes=icp_changes(source_plan.icp, plan.icp),
    )
