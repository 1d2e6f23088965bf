"""Many worker threads share one qualifier: requests stay in flight together, state is safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qualify.errors import TransientError
from qualify.qualifiers.web import WebQualifier
from qualify.settings import FetchSettings, Settings
from qualify.siteserver import SiteServer
from tests.web.conftest import PARALLEL, gateway_settings
from tests.web.sites import barrier_sites


def qualify_all(
    qualify: WebQualifier, domains: list[str], icp: dict[str, Any]
) -> list[dict[str, Any] | Exception]:
    def one(domain: str) -> dict[str, Any] | Exception:
        try:
            return qualify(domain, icp)
        except Exception as exc:  # collected and asserted on below
            return exc

    with ThreadPoolExecutor(max_workers=len(domains)) as pool:
        return list(pool.map(one, domains))


def test_fetches_from_many_threads_are_in_flight_at_once(qualify: WebQualifier, icp):
    # Each parallel-N site answers only once all of them have been requested: any global
    # lock around I/O would leave the barrier short and every answer a 500.
    results = qualify_all(qualify, [f"parallel-{i}.company" for i in range(PARALLEL)], icp)
    assert all(isinstance(r, dict) for r in results), results
    assert {r["error"] for r in results} == {None}  # type: ignore[index]


def test_the_concurrency_cap_holds_requests_back(make_qualifier, icp):
    server = SiteServer(barrier_sites(2, timeout=1.0)).start()
    try:
        qualify = make_qualifier(FetchSettings(fetch_via=server.fetch_via, host_delay=0.0,
                                               deadline=5.0, max_concurrent_fetches=1))  # fmt: skip
        results = qualify_all(qualify, ["parallel-0.company", "parallel-1.company"], icp)
    finally:
        server.stop()
    # With one slot the two requests never overlap, so the barrier breaks (HTTP 500).
    assert any(isinstance(r, TransientError) and r.code == "http_5xx" for r in results)


def test_shared_state_is_created_once_under_contention(make_qualifier):
    qualify = make_qualifier(FetchSettings())  # its Fetcher is made on first use
    with ThreadPoolExecutor(max_workers=16) as pool:
        fetchers = list(pool.map(lambda _: qualify.fetcher, range(64)))
    assert len({id(f) for f in fetchers}) == 1


def test_concurrent_results_equal_sequential_ones(qualify: WebQualifier, icp):
    domains = [
        "acme-freight.company", "fleetbase.company", "shoply.company", "bigfreight.company",
        "loop.company", "forsale-domain.company", "gone.company", "translyon.company",
    ] * 3  # fmt: skip
    sequential = {d: qualify(d, icp) for d in dict.fromkeys(domains)}
    parallel = qualify_all(qualify, domains, icp)
    for domain, result in zip(domains, parallel, strict=True):
        assert isinstance(result, dict), result
        expected = sequential[domain]
        assert (result["verdict"], result["score"], result["error"]) == (
            expected["verdict"], expected["score"], expected["error"],
        ), domain  # fmt: skip


def test_configure_rejects_bad_settings_and_keeps_the_old_ones(gateway: SiteServer, make_qualifier):
    settings = Settings(fetch=gateway_settings(gateway))
    qualify = make_qualifier(settings.fetch)
    before = Settings(fetch=gateway_settings(gateway))  # an equal copy, built apart
    with pytest.raises(Exception, match="must contain"):
        settings.with_fetch(fetch_via="http://127.0.0.1:1/no-placeholder")
    with pytest.raises(TypeError, match="unknown settings"):
        settings.with_fetch(colour="red")
    assert settings == before
    assert qualify.settings == before.fetch
