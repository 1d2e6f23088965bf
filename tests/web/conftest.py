"""Fixtures: one real fixture server per session, and a clean qualifier configuration."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qualify.qualifiers.web as web
from tests.web.fixture_server import FixtureServer
from tests.web.sites import SITES, barrier_sites

PARALLEL = 8
EXAMPLE_ICP = Path(__file__).resolve().parents[2] / "qualify" / "examples" / "icp.json"


@pytest.fixture(scope="session")
def server() -> Iterator[FixtureServer]:
    srv = FixtureServer({**SITES, **barrier_sites(PARALLEL)}).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _isolated_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Settings come from the environment on first use: keep the developer's out.
    for name in ("QUALIFY_FETCH_VIA", "QUALIFY_ALLOW_PRIVATE_NETWORKS", "QUALIFY_USER_AGENT"):
        monkeypatch.delenv(name, raising=False)
    web.reset_configuration()
    yield
    web.reset_configuration()


def no_dns(host: str) -> list[str]:
    """The resolver for direct-mode tests: fixture names never reach real DNS."""
    raise socket.gaierror(socket.EAI_NONAME, f"{host}: not a fixture name")


@pytest.fixture
def gateway(server: FixtureServer) -> FixtureServer:
    """Qualifier configured to fetch every fixture site through the local gateway."""
    web.configure(
        fetch_via=server.gateway,
        resolver=no_dns,  # belt and braces: nothing may resolve in gateway mode anyway
        host_delay=0.0,
        deadline=4.0,
        connect_timeout=2.0,
        read_timeout=2.0,
    )
    server.clear_log()
    return server


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
