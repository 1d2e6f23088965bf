"""Fixtures of the llm qualifier's tests: the scriptable model server, fixture sites behind
the gateway, a real store for the verdict cache and token accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.qualifiers.llm import LlmQualifier
from qualify.qualifiers.llm.client import forget_modes
from qualify.settings import LlmSettings, Settings
from qualify.siteserver import SiteServer
from qualify.store import Store
from tests.llmserver import LlmServer
from tests.web.conftest import gateway_settings
from tests.web.sites import BOTWALL, CASINO, FLEETBASE, PARKED, SHOPLY

ICP = {
    "name": "Logistics software",
    "description": "B2B SaaS for logistics and fleet operators in DACH, 50-1000 people;"
    " not agencies",
}
SITES = {
    "fleetbase.ch": FLEETBASE,
    "shoply.com": SHOPLY,
    "royal-casino.com": CASINO,
    "forsale-domain.com": PARKED,
    "botwall.io": BOTWALL,
}


@pytest.fixture
def llm() -> Iterator[LlmServer]:
    forget_modes()
    server = LlmServer().start()
    yield server
    server.stop()
    forget_modes()


@pytest.fixture(scope="module")
def sites() -> Iterator[SiteServer]:
    server = SiteServer(SITES).start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(str(tmp_path / "q.db"))
    yield opened
    opened.close()


@pytest.fixture
def make_llm(
    llm: LlmServer, sites: SiteServer, store: Store
) -> Iterator[Callable[..., LlmQualifier]]:
    """Builds an llm qualifier asking ``llm`` about the fixture sites; closed afterwards."""
    built: list[LlmQualifier] = []

    def make(run_id: int | None = None, **overrides: Any) -> LlmQualifier:
        llm_settings = LlmSettings(
            **{"base_url": llm.base_url, "model": "test-model", "timeout": 5.0, **overrides}
        )
        settings = Settings(db=":memory:", fetch=gateway_settings(sites), llm=llm_settings)
        qualifier = LlmQualifier.from_settings(settings, pages=store.pages, ledger=store.llm)
        built.append(qualifier)
        return qualifier.for_run(0, run_id=run_id) if run_id is not None else qualifier

    yield make
    for qualifier in built:
        qualifier.close()


def make_run(store: Store, domains: list[str], **account: Any) -> int:
    return store.runs.create(
        name="t",
        qualifier="llm",
        icp=ICP,
        domains=domains,
        max_attempts=3,
        backoff=0.1,
        llm_account={
            "model": "test-model",
            "max_tokens": None,
            "price_in": None,
            "price_out": None,
            **account,
        },
    )
