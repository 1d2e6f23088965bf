"""robots.txt by RFC 9309 (protego, with the group chosen by product token here), and what
the fetcher does when robots.txt cannot be read."""

from __future__ import annotations

import pytest

from qualify.qualifiers.web import robots
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.fetch import Fetcher
from qualify.siteserver import Resp, SiteServer
from tests.web.conftest import gateway_settings
from tests.web.test_fetch import FakeClock


def allowed(text: str, path: str) -> bool:
    return robots.parse(text).allowed(path)


@pytest.mark.parametrize(
    ("line", "ours"),
    [
        ("User-agent: qualify", True),
        ("User-agent: QUALIFY", True),  # 2.2.1: case-insensitive
        ("User-agent: Qualify/1.0", True),  # the token is the leading letters
        ("user-agent:qualify", True),
        ("User-agent: q", False),  # a prefix of our token is another crawler's
        ("User-agent: qual", False),
        ("User-agent: qualify-bot", False),
        ("User-agent: qualifybot", False),
        ("User-agent: notqualify", False),
        ("User-agent: Mozilla/5.0 (compatible; qualify)", False),
    ],
)
def test_the_group_is_chosen_by_our_product_token(line: str, ours: bool) -> None:
    text = f"{line}\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert allowed(text, "/page") is not ours


def test_without_a_group_of_ours_the_star_group_applies_and_groups_merge() -> None:
    text = (
        "User-agent: googlebot\nDisallow: /\n\n"
        "User-agent: *\nDisallow: /private\n"
    )  # fmt: skip
    assert allowed(text, "/page") and not allowed(text, "/private/x")
    # 2.2.1: groups naming the same crawler are combined; lines of one group may name several.
    merged = (
        "User-agent: qualify\nDisallow: /a\n\n"
        "User-agent: other\nUser-agent: qualify\nDisallow: /b\n\n"
        "User-agent: *\nDisallow: /\n"
    )  # fmt: skip
    assert not allowed(merged, "/a/1") and not allowed(merged, "/b/1")
    assert allowed(merged, "/c")


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        # 5.2's examples: the most specific (longest) match wins...
        ("Allow: /p\nDisallow: /", "/page", True),
        ("Allow: /folder\nDisallow: /folder", "/folder/page", True),  # ...allow on a tie
        ("Allow: /page\nDisallow: /*.htm", "/page.htm", False),
        ("Allow: /$\nDisallow: /", "/", True),
        ("Allow: /$\nDisallow: /", "/page.htm", False),
        # 2.2.3: "*" any sequence, "$" the end.
        ("Disallow: /*.pdf$", "/files/report.pdf", False),
        ("Disallow: /*.pdf$", "/files/report.pdf?x=1", True),
        ("Disallow: /shop/*/cart", "/shop/de/cart", False),
        ("Disallow: /shop/*/cart", "/shop/de/checkout", True),
        # 2.2.2: percent-encoding; octets of the URI and of the rule compare encoded.
        ("Disallow: /foo/bar/ツ", "/foo/bar/%E3%83%84", False),
        ("Disallow: /foo/bar/%E3%83%84", "/foo/bar/ツ", False),
        ("Disallow: /%7Ejoe", "/~joe/index.html", False),
        ("Disallow: /a%2Fb", "/a/b", True),  # an encoded slash is not a slash
        ("Disallow: /a%2Fb", "/a%2Fb", False),
        ("Disallow: /foo/bar?baz=quz", "/foo/bar?baz=quz", False),
        ("Disallow: /foo/bar?baz=quz", "/foo/bar", True),
        # 2.2.2: empty rules and unknown lines change nothing.
        ("Disallow:\nFoo: bar", "/anything", True),
        ("Disallow: /private # a comment", "/private/x", False),
    ],
)
def test_rules_match_as_the_standard_says(rules: str, path: str, expected: bool) -> None:
    assert allowed(f"User-agent: *\n{rules}\n", path) is expected


def test_crawl_delay_of_our_group_and_robots_txt_itself() -> None:
    rules = robots.parse("User-agent: qualify\nCrawl-delay: 3\nDisallow: /\n")
    assert rules.crawl_delay == 3.0
    assert rules.allowed("/robots.txt") and not rules.allowed("/")
    assert robots.parse("garbage\n\n\x00").allowed("/anything")


def unavailable_site(status: int) -> dict:
    return {"/": Resp(200, "<html><body>fine</body></html>"),
            "/robots.txt": Resp(status, "down", content_type="text/plain")}  # fmt: skip


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_txt_that_cannot_be_read_disallows_for_a_while_then_is_asked_again(
    status: int,
) -> None:
    server = SiteServer({"shaky.company": unavailable_site(status)}).start()
    clock = FakeClock()
    fetcher = Fetcher(gateway_settings(server, robots_error_ttl=600.0), clock=clock,
                      sleep=clock.sleep)  # fmt: skip
    asked = lambda: sum(1 for e in server.log if e[2] == "/robots.txt")  # noqa: E731
    try:
        for _ in range(2):
            with pytest.raises(FetchError) as caught:
                fetcher.fetch_page("https://shaky.company/", fetcher.new_deadline())
            assert caught.value.code == "robots_unavailable"
            assert f"HTTP {status}" in caught.value.message
        assert asked() == 1 and not server.requested("shaky.company", "/")
        clock.now += 601
        with pytest.raises(FetchError):
            fetcher.fetch_page("https://shaky.company/", fetcher.new_deadline())
        assert asked() == 2
    finally:
        fetcher.close()
        server.stop()


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_robots_txt_that_does_not_exist_allows_everything(status: int) -> None:
    server = SiteServer({"open.company": unavailable_site(status)}).start()
    fetcher = Fetcher(gateway_settings(server))
    try:
        assert "fine" in fetcher.fetch_page("https://open.company/", fetcher.new_deadline()).html
    finally:
        fetcher.close()
        server.stop()
