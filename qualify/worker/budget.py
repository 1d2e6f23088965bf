"""A run whose token budget is spent (the llm qualifier raised BudgetReached): its job is
set aside unpaid, queued again without a message and without the attempt counted, to wait
for ``qualify run-set RUN --max-tokens M`` (see :mod:`qualify.store.llm`)."""

from __future__ import annotations

import logging

from qualify.errors import BudgetReached
from qualify.store import ClaimedJob
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


def set_aside(state: WorkerState, job: ClaimedJob, reached: BudgetReached) -> None:
    try:
        count = state.store.llm.set_aside([job])
    except Exception:
        log.exception("job %d: could not set it aside; its lease will expire", job.id)
        return
    finally:
        state.store.database.release()  # an executor thread holds no connection
    state.stats.add(released=count)
    if reached.run_id not in state.budget_said:
        state.budget_said.add(reached.run_id)
        log.warning("%s; its jobs wait for a larger budget: qualify run-set %d --max-tokens N",
                    reached, reached.run_id)  # fmt: skip
