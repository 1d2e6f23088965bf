"""Shared hosts are not hammered: a cap on open connections per IP address, spacing between
requests to one address, and an address that answers 429 or 503 slowed down for every domain
on it. Over the simulated internet, whose servers count what each address sees."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qualify.qualifiers.web import WebQualifier
from qualify.qualifiers.web.fetch import Fetcher
from qualify.qualifiers.web.polite import ConnectionSlots, IpPacing
from qualify.siteserver import Resp
from tests.backends import unavailable
from tests.simnet import SimInternet, SimUnavailable, generated_site
from tests.web.test_fetch import FakeClock


def started(net: SimInternet) -> SimInternet:
    try:
        return net.start()
    except SimUnavailable as exc:
        unavailable("the simulated internet", exc)
        raise


def test_200_domains_on_one_address_never_see_more_than_the_cap(icp: dict[str, Any]) -> None:
    net = started(SimInternet(generated=200, addresses=1, latency=0.02))
    try:
        qualify = WebQualifier(net.settings(per_ip_connections=3))
        with qualify, ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda d: qualify(d, icp), net.generated_names))
        stats = net.stats(net.addresses[0])
    finally:
        net.stop()
    assert [r["verdict"] for r in results] == ["qualified"] * 200
    assert stats.requests == 400  # robots.txt and the homepage of each
    # Counted by the server: connections open at once, and requests in flight at once.
    assert stats.max_open == 3, stats
    assert stats.max_active <= 3, stats
    assert stats.open == 0  # every connection closed once its domain was done


def test_each_thread_holds_one_connection_and_gives_it_back_after_a_failed_handshake(
    icp: dict[str, Any],
) -> None:
    # The fetcher does not trust the servers' CA: every https:// handshake fails and the
    # crawl falls back to http://. A handshake that kept its slot would leave the address
    # with none (the cap is 1) for the next domain.
    net = started(SimInternet(generated=3, addresses=1))
    try:
        fetcher_settings = net.settings(per_ip_connections=1, ca_bundle=None)
        with WebQualifier(fetcher_settings) as qualify:
            for name in net.generated_names:
                result = qualify(name, icp)
                assert result["verdict"] == "qualified"
                assert result["signals"]["final_url"] == f"http://{name}/"
                assert qualify.fetcher._connections.open(net.addresses[0]) == 0
    finally:
        net.stop()


def test_a_429_slows_the_address_down_for_every_domain_on_it() -> None:
    busy = {"/": Resp(429, "slow down", {"Retry-After": "1"})}
    sites = {"busy.company": busy, **{f"calm{i}.company": generated_site(f"calm{i}.company")
                                      for i in range(4)},
             "elsewhere.company": generated_site("elsewhere.company")}  # fmt: skip
    place = {name: 0 for name in sites} | {"elsewhere.company": 1}
    net = started(SimInternet(sites, addresses=2, place=place))
    fetcher = Fetcher(net.settings(respect_robots=False, per_ip_delay=0.0, max_ip_delay=5.0))
    try:
        deadline = fetcher.new_deadline()
        for name in ("calm0.company", "calm1.company"):
            fetcher.fetch_page(f"https://{name}/", deadline)
        with pytest.raises(Exception, match="429"):
            fetcher.fetch_page("https://busy.company/", deadline)
        fetcher.fetch_page("https://elsewhere.company/", fetcher.new_deadline())
        for name in ("calm2.company", "calm3.company"):
            fetcher.fetch_page(f"https://{name}/", fetcher.new_deadline())
        log = sorted(net.web.log)
    finally:
        fetcher.close()
        net.stop()
    at = {host: when for when, _address, _scheme, host, _path in log}
    assert at["calm1.company"] - at["calm0.company"] < 0.5  # no spacing before
    # The 429 doubled the address's spacing to 1 s and held it for its Retry-After...
    assert at["calm2.company"] - at["busy.company"] >= 0.95
    # ...then each good answer eases it by a quarter: 0.75 s.
    assert at["calm3.company"] - at["calm2.company"] >= 0.7
    # Another address is not held back by it.
    assert at["elsewhere.company"] - at["busy.company"] < 0.5


def test_ip_pacing_doubles_on_push_back_and_eases_back_to_the_base() -> None:
    clock = FakeClock()
    pacing = IpPacing(base_delay=0.1, max_delay=8.0, clock=clock)
    assert pacing.reserve("1.2.3.4", latest=clock.now + 10) == 0.0
    assert pacing.reserve("1.2.3.4", latest=clock.now + 10) == pytest.approx(0.1)
    assert pacing.reserve("5.6.7.8", latest=clock.now + 10) == 0.0
    assert pacing.pushed_back("1.2.3.4") == 1.0  # at least a second
    assert pacing.pushed_back("1.2.3.4", retry_after=30) == 2.0
    assert pacing.pushed_back("1.2.3.4") == 4.0
    assert [pacing.pushed_back("1.2.3.4") for _ in range(3)] == [8.0, 8.0, 8.0]  # the cap
    # Retry-After 30 held the next request back, capped at max_delay from then.
    assert pacing.reserve("1.2.3.4", latest=clock.now + 1) is None
    clock.now += 8
    assert pacing.reserve("1.2.3.4", latest=clock.now + 10) == 0.0
    for _ in range(20):
        pacing.answered("1.2.3.4")
    assert pacing.delay("1.2.3.4") == 0.1
    assert pacing.delay("5.6.7.8") == 0.1


def test_connection_slots_wait_for_one_to_free_and_time_out_otherwise() -> None:
    slots = ConnectionSlots(per_ip=2)
    assert slots.acquire("1.2.3.4", 0) and slots.acquire("1.2.3.4", 0)
    assert not slots.acquire("1.2.3.4", 0.05)
    assert slots.acquire("5.6.7.8", 0)  # other addresses are not affected
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire("1.2.3.4", 10)))
    waiter.start()
    time.sleep(0.1)
    assert got == []
    slots.release("1.2.3.4")
    waiter.join(5)
    assert got == [True] and slots.open("1.2.3.4") == 2
