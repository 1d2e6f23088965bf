"""The fetcher on its own: limits, decoding, robots.txt, pacing, gateway protocol."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from qualify.qualifiers.web import body, robots
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.fetch import Fetcher, parse_retry_after
from qualify.qualifiers.web.polite import HostThrottle, TTLCache
from qualify.settings import DEFAULT_USER_AGENT, FetchSettings
from qualify.siteserver import SiteServer
from tests.web.conftest import gateway_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def gateway_fetcher(server: SiteServer, **overrides) -> Fetcher:
    return Fetcher(gateway_settings(server, **overrides))


def test_gzip_bomb_is_refused_without_inflating_it(server: SiteServer):
    fetcher = gateway_fetcher(server)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page("https://gzip-bomb.company/", fetcher.new_deadline())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        fetcher.close()
    assert caught.value.code == "too_large"
    # The bomb inflates to 40 MB; decoding stops at the 3 MB cap plus one bounded chunk.
    assert peak < 15_000_000


def test_size_cap_is_configurable(server: SiteServer):
    fetcher = gateway_fetcher(server, max_bytes=1024)  # the page has ~1.7 kB
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page("https://acme-freight.company/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert caught.value.code == "too_large"


def test_slow_drip_hits_the_wall_clock_deadline(server: SiteServer):
    # Each byte arrives well within the read timeout; only the deadline can stop it.
    fetcher = gateway_fetcher(server, deadline=0.8, read_timeout=5.0)
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page("https://slow-drip.company/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert caught.value.code == "timeout"
    assert caught.value.transient


def test_bot_wall_is_recognised_on_a_200_page(server: SiteServer):
    fetcher = gateway_fetcher(server)
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page("https://captcha.company/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert caught.value.code == "bot_wall"
    assert "DataDome" in caught.value.message


def test_crawl_delay_from_robots_paces_requests_to_the_host(server: SiteServer):
    clock = FakeClock()
    settings = FetchSettings(fetch_via=server.fetch_via, host_delay=0.5, deadline=60.0)
    fetcher = Fetcher(settings, clock=clock, sleep=clock.sleep)
    try:
        deadline = fetcher.new_deadline()
        fetcher.fetch_page("https://crawl-delay.company/", deadline)
        fetcher.fetch_page("https://crawl-delay.company/about", deadline)
    finally:
        fetcher.close()
    # robots.txt does not hold the first page back; the two pages are spaced by its
    # Crawl-delay of 2 s.
    assert clock.sleeps == [2.0]


def test_pacing_that_would_pass_the_deadline_is_a_timeout(server: SiteServer):
    clock = FakeClock()
    settings = FetchSettings(fetch_via=server.fetch_via, host_delay=5.0, deadline=3.0)
    fetcher = Fetcher(settings, clock=clock, sleep=clock.sleep)
    try:
        deadline = fetcher.new_deadline()
        fetcher.fetch_page("https://crawl-delay.company/", deadline)
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page("https://crawl-delay.company/about", deadline)
    finally:
        fetcher.close()
    assert caught.value.code == "timeout"
    assert "pacing" in caught.value.message


def test_robots_rules_are_cached_per_origin(server: SiteServer):
    fetcher = gateway_fetcher(server)
    server.clear_log()
    try:
        deadline = fetcher.new_deadline()
        fetcher.fetch_page("https://acme-freight.company/", deadline)
        fetcher.fetch_page("https://acme-freight.company/preise", deadline)
    finally:
        fetcher.close()
    robots_requests = [e for e in server.log if e[1:] == ("acme-freight.company", "/robots.txt")]
    assert len(robots_requests) == 1


def test_robots_can_be_switched_off(server: SiteServer):
    fetcher = gateway_fetcher(server, respect_robots=False)
    try:
        page = fetcher.fetch_page("https://robots-all.company/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert "never see this page" in page.html


def test_user_agent_names_the_project(server: SiteServer):
    fetcher = gateway_fetcher(server, user_agent="qualify/test (+ops@example.com)")
    server.user_agents.clear()
    try:
        fetcher.fetch_page("https://acme-freight.company/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert server.user_agents == {"qualify/test (+ops@example.com)"}
    assert DEFAULT_USER_AGENT.startswith("qualify/")
    assert "robots.txt" in DEFAULT_USER_AGENT


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), ("999999", 86_400.0), ("soon", None), (None, None)],
)
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    when = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    value = format_datetime(when, usegmt=True)
    assert parse_retry_after(value, now=(when - timedelta(seconds=90)).timestamp()) == 90.0


def test_bounded_decoder_stops_a_bomb_in_small_steps():
    bomb = gzip.compress(b"\0" * 20_000_000)
    decoder = body.BoundedDecoder("gzip", limit=100_000)
    assert decoder.feed(bomb) is False
    assert decoder.overflow and len(decoder.data()) == 100_000


def test_bounded_decoder_handles_raw_deflate_and_layers():
    raw = zlib.compressobj(wbits=-15)
    payload = raw.compress(b"<html>hello</html>") + raw.flush()
    decoder = body.BoundedDecoder("deflate", limit=1000)
    assert decoder.feed(payload) and decoder.data() == b"<html>hello</html>"
    double = gzip.compress(zlib.compress(b"twice"))
    layered = body.BoundedDecoder("deflate, gzip", limit=1000)
    assert layered.feed(double) and layered.data() == b"twice"
    with pytest.raises(body.UnsupportedEncoding):
        body.BoundedDecoder("br", limit=1000)


@pytest.mark.parametrize(
    ("data", "content_type", "text", "encoding"),
    [
        ("Über".encode(), "text/html; charset=utf-8", "Über", "utf-8"),
        ("Über".encode("cp1252"), "text/html", "Über", "cp1252"),
        ('<meta charset="iso-8859-1">Ä'.encode("latin-1"), "text/html", "Ä", "iso8859-1"),
        (b"\xef\xbb\xbfhi", "", "hi", "utf-8-bom"),
        ("Привет".encode("cp1251"), "text/html; charset=windows-1251", "Привет", "cp1251"),
    ],
)
def test_decode_text_charsets(data, content_type, text, encoding):
    decoded, used = body.decode_text(data, content_type)
    assert decoded.endswith(text)
    assert used == encoding


def test_robots_longest_match_wins_and_allow_breaks_ties():
    rules = robots.parse(
        "User-agent: *\nDisallow: /shop\nAllow: /shop/about\nDisallow: /*.pdf$\n"
        "Disallow: /tmp\nAllow: /tmp\n",
        "qualify",
    )
    assert not rules.allowed("/shop/cart")
    assert rules.allowed("/shop/about/team")
    assert not rules.allowed("/files/report.pdf")
    assert rules.allowed("/files/report.pdf?x=1")
    assert rules.allowed("/tmp/x")
    assert rules.allowed("/robots.txt")


def test_robots_group_for_our_agent_beats_the_wildcard_group():
    text = (
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: Googlebot\nUser-agent: qualify\nDisallow: /private\nCrawl-delay: 3\n"
    )
    rules = robots.parse(text, "qualify")
    assert rules.allowed("/") and not rules.allowed("/private/x")
    assert rules.crawl_delay == 3.0
    assert not robots.parse(text, "otherbot").allowed("/")
    assert robots.parse("garbage\n\n", "qualify").allowed("/anything")


def test_host_throttle_spaces_one_host_and_not_others():
    clock = FakeClock()
    throttle = HostThrottle(clock)
    assert throttle.reserve("a.company", 1.0, latest=2000) == 0.0
    assert throttle.reserve("a.company", 1.0, latest=2000) == 1.0
    assert throttle.reserve("a.company", 1.0, latest=2000) == 2.0
    assert throttle.reserve("b.company", 1.0, latest=2000) == 0.0
    assert throttle.reserve("a.company", 1.0, latest=clock.now + 2.5) is None


def test_ttl_cache_expires_and_evicts():
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(max_entries=2, ttl=10.0, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") is None and cache.get("b") == 2
    clock.now += 11
    assert cache.get("b") is None
