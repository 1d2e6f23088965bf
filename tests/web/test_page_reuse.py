"""The web qualifier keeps what it fetched in the page store and reads it back within the
page age: no request then, and the very same result; after the age, it fetches again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.errors import OurSideError, TransientError
from qualify.pagecache import PageCopy
from qualify.qualifiers.web import WebQualifier
from qualify.settings import FetchSettings
from qualify.siteserver import SiteServer
from qualify.store import Pages, Store
from tests.simnet import SimInternet
from tests.support import PortableSql
from tests.web.conftest import fresh_names, gateway_settings

DAY = 86400.0


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[Pages]:
    store = Store.open(str(tmp_path / "q.db"))
    yield store.pages
    store.close()


def requests_for(server: SiteServer, host: str) -> list[str]:
    return [path for _, h, path in server.log if h.removeprefix("www.") == host]


def age(pages: Pages, seconds: float) -> None:
    PortableSql(pages.database).execute("UPDATE pages SET fetched_at = {now} - ?", (seconds,))


def without_signals(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "signals"}


@pytest.mark.parametrize(
    "domain",
    ["acme-freight.company", "fleetbase.company", "gone.company", "forsale-domain.company"],
)
def test_a_second_visit_within_the_age_makes_no_request_and_gives_the_same_result(
    gateway: SiteServer,
    pages: Pages,
    make_qualifier: Callable[[FetchSettings], WebQualifier],
    icp: dict[str, Any],
    domain: str,
) -> None:
    qualifier = make_qualifier(gateway_settings(gateway))
    kept = WebQualifier(qualifier.settings, pages, _shared=qualifier._shared)
    first = kept(domain, icp)
    assert requests_for(gateway, domain), "the first visit fetches"
    assert pages.site(domain, None), "and keeps what it fetched"
    # A rescore (any age) reads the copies only: no request, the same result.
    gateway.clear_log()
    again = kept.for_run(None)(domain, icp)
    assert requests_for(gateway, domain) == []
    assert without_signals(again) == without_signals(first)
    assert again["signals"].get("pages") == first["signals"].get("pages")
    # A fresh qualifier (another worker) reads the same copies.
    other = make_qualifier(gateway_settings(gateway))
    assert without_signals(WebQualifier(other.settings, pages, max_page_age=None)(domain, icp)) == (
        without_signals(first)
    )
    assert requests_for(gateway, domain) == []


def test_within_the_age_a_run_asks_again_only_for_what_failed_in_passing(
    gateway: SiteServer, pages: Pages, make_qualifier: Callable[[FetchSettings], WebQualifier],
    icp: dict[str, Any],
) -> None:  # fmt: skip
    # fleetbase's /contact answers 500: not kept (it may work next time), so a run within the
    # age asks for it again, and for nothing else; a rescore does not ask at all.
    base = make_qualifier(gateway_settings(gateway))
    kept = WebQualifier(base.settings, pages, _shared=base._shared)
    first = kept("fleetbase.company", icp)
    gateway.clear_log()
    assert kept("fleetbase.company", icp) == first
    assert requests_for(gateway, "fleetbase.company") == ["/contact"]


def test_failures_that_are_facts_are_kept_and_ours_are_not(
    gateway: SiteServer, pages: Pages, make_qualifier: Callable[[FetchSettings], WebQualifier],
    icp: dict[str, Any],
) -> None:  # fmt: skip
    base = make_qualifier(gateway_settings(gateway))
    kept = WebQualifier(base.settings, pages, _shared=base._shared)
    assert kept("gone.company", icp)["error"] == "http_4xx"
    assert {c.error_code for c in pages.site("gone.company", None).values()} == {"http_4xx"}
    # fleetbase's careers page is forbidden by robots.txt: kept as such, never requested.
    kept("fleetbase.company", icp)
    codes = {url: c.error_code for url, c in pages.site("fleetbase.company", None).items()}
    assert "robots_disallowed" in codes.values()
    with pytest.raises(TransientError, match=r"gateway reports|connect"):
        kept("down.company", icp)  # transient: a failure of the way there, not of the site
    kept_down = pages.site("down.company", None)
    assert "https://down.company/" not in kept_down and "http://down.company/" not in kept_down
    # ...and so is "www.down.company does not exist": the gateway looks names up on our
    # side, so that answer may be our resolver's, and the breaker, not the cache, judges it.
    assert kept_down == {}


def test_after_the_age_it_fetches_again_and_zero_always_fetches(
    gateway: SiteServer, pages: Pages, make_qualifier: Callable[[FetchSettings], WebQualifier],
    icp: dict[str, Any],
) -> None:  # fmt: skip
    base = make_qualifier(gateway_settings(gateway))
    month = WebQualifier(base.settings, pages, max_page_age=30 * DAY, _shared=base._shared)
    month("acme-freight.company", icp)
    age(pages, 31 * DAY)
    gateway.clear_log()
    month("acme-freight.company", icp)
    assert requests_for(gateway, "acme-freight.company"), "a copy older than the age is refetched"
    before = {c.fetched_at for c in pages.site("acme-freight.company", None).values()}
    assert all(stamp is not None for stamp in before)
    assert pages.site("acme-freight.company", 3600), "the new copies are young again"

    gateway.clear_log()
    never = month.for_run(0.0)
    assert never.fetcher is month.fetcher, "a run's view shares the HTTP clients"
    never("acme-freight.company", icp)
    assert requests_for(gateway, "acme-freight.company"), "max_page_age 0 always fetches"

    age(pages, 365 * DAY)
    gateway.clear_log()
    month.for_run(None)("acme-freight.company", icp)
    assert requests_for(gateway, "acme-freight.company") == [], "None takes any age"


def test_a_copy_from_another_extractor_version_is_fetched_again(
    gateway: SiteServer, pages: Pages, make_qualifier: Callable[[FetchSettings], WebQualifier],
    icp: dict[str, Any],
) -> None:  # fmt: skip
    base = make_qualifier(gateway_settings(gateway))
    pages.put(
        "acme-freight.company",
        [PageCopy("https://acme-freight.company/", "https://acme-freight.company/", 200,
                  content={"v": 0, "page": {"kind": "home"}})],
    )  # fmt: skip
    result = WebQualifier(base.settings, pages, _shared=base._shared)("acme-freight.company", icp)
    assert result["verdict"] == "qualified"
    assert requests_for(gateway, "acme-freight.company")


def test_a_failure_that_may_be_our_network_is_never_kept_on_the_direct_path(
    net: SimInternet, pages: Pages, icp: dict[str, Any]
) -> None:
    # On the direct path an NXDOMAIN or a refused connection may be our own network's: the
    # breaker decides later. A copy kept now would replay an outage as a fact in the next run
    # within the page age, so the site would stay "gone" after the network came back.
    (name,) = fresh_names(net, 1)
    qualifier = WebQualifier(net.settings(dns_timeout=0.5), pages, max_page_age=30 * DAY)
    try:
        for how in ("dns-nxdomain", "refused"):
            net.down(how)
            with pytest.raises(OurSideError) as failure:
                qualifier(name, icp)
            net.up()
            assert pages.site(name, None) == {}, f"{how}: nothing kept"
            # The worker's breaker probes before it resumes; a yes forgets cached failures.
            assert qualifier.probe(failure.value) is not False
        assert qualifier(name, icp)["verdict"] == "qualified"
        assert pages.site(name, None), "a page that answered is kept"
    finally:
        qualifier.close()
