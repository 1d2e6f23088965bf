"""Fixtures: one real site server per session, and web qualifiers built for each test."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.qualifiers.web import WebQualifier
from qualify.settings import FetchSettings
from qualify.siteserver import SiteServer
from tests.web.sites import SITES, barrier_sites

PARALLEL = 8
EXAMPLE_ICP = Path(__file__).resolve().parents[2] / "qualify" / "examples" / "icp.json"


@pytest.fixture(scope="session")
def server() -> Iterator[SiteServer]:
    srv = SiteServer({**SITES, **barrier_sites(PARALLEL)}).start()
    yield srv
    srv.stop()


def no_dns(host: str) -> list[str]:
    """The resolver for direct-mode tests: fixture names never reach real DNS."""
    raise socket.gaierror(socket.EAI_NONAME, f"{host}: not a fixture name")


def gateway_settings(server: SiteServer, **overrides: Any) -> FetchSettings:
    """Fetch every fixture site through ``server``'s gateway, quickly; ``overrides`` are
    further FetchSettings fields."""
    defaults: dict[str, Any] = {
        "fetch_via": server.fetch_via,
        "resolver": no_dns,  # belt and braces: nothing may resolve in gateway mode anyway
        "host_delay": 0.0,
        "deadline": 4.0,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
    }
    return FetchSettings(**{**defaults, **overrides})


@pytest.fixture
def make_qualifier() -> Iterator[Callable[[FetchSettings], WebQualifier]]:
    """Builds web qualifiers from fetch settings and closes them after the test."""
    built: list[WebQualifier] = []

    def make(settings: FetchSettings) -> WebQualifier:
        built.append(WebQualifier(settings))
        return built[-1]

    yield make
    for qualifier in built:
        qualifier.close()


@pytest.fixture
def gateway(server: SiteServer) -> SiteServer:
    """The fixture server, its request log cleared."""
    server.clear_log()
    return server


@pytest.fixture
def qualify(
    gateway: SiteServer, make_qualifier: Callable[[FetchSettings], WebQualifier]
) -> WebQualifier:
    """A web qualifier fetching every fixture site through the local gateway."""
    return make_qualifier(gateway_settings(gateway))


@pytest.fixture
def icp() -> dict[str, Any]:
    return json.loads(EXAMPLE_ICP.read_text(encoding="utf-8"))


def reason(result: dict[str, Any], criterion: str) -> dict[str, Any]:
    found = [r for r in result["reasons"] if r["criterion"] == criterion]
    assert found, f"no reason for {criterion}: {result['reasons']}"
    return found[0]


def reasons(result: dict[str, Any], criterion: str) -> str:
    """The evidence of every reason for ``criterion``, joined (for substring checks)."""
    return " | ".join(r["evidence"] for r in result["reasons"] if r["criterion"] == criterion)
