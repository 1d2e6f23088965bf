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
from tests.backends import unavailable
from tests.simnet import SimInternet, SimUnavailable
from tests.web.sites import SITES, barrier_sites

PARALLEL = 8
EXAMPLE_ICP = Path(__file__).resolve().parents[2] / "qualify" / "examples" / "icp.json"


@pytest.fixture(scope="session")
def internet() -> Iterator[SimInternet]:
    """The simulated internet of this session: 800 generated company sites over 40
    addresses (20 names each), answering every request after 100 ms. Tests take names of
    their own from it (:func:`fresh_names`) and put the network back up when done."""
    net = SimInternet(generated=800, addresses=40, latency=0.1)
    try:
        net.start()
    except SimUnavailable as exc:
        unavailable("the simulated internet", exc)
    yield net
    net.stop()


@pytest.fixture
def net(internet: SimInternet) -> Iterator[SimInternet]:
    internet.up()
    yield internet
    internet.up()


_next_name = iter(range(10**9))


def fresh_names(net: SimInternet, count: int) -> list[str]:
    """Generated names no other test of this session has used (no cache has seen them)."""
    names = [net.generated_names[next(_next_name)] for _ in range(count)]
    return names


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
