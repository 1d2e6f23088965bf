"""The SSRF guard: address classes, URL shapes, and the guard in the real connection path.

Fixture names only ever resolve through injected resolvers; the one real name resolved
by the operating system is ``localhost``.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from qualify.qualifiers.web import domains, netguard
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.fetch import Fetcher
from qualify.qualifiers.web.transport import make_client
from qualify.settings import FetchSettings, Settings
from qualify.siteserver import SiteServer
from tests.web.conftest import no_dns, reason


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.100.100.200", "0.0.0.0", "224.0.0.1", "255.255.255.255",
        "192.0.0.192", "198.18.0.1", "240.0.0.1", "::1", "::", "fe80::1", "fd00:ec2::254",
        "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:7f00:1",
        "2002:7f00:1::", "2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",
        "64:ff9b:1::a00:1", "::127.0.0.1", "2001:db8::1", "fe80::1%eth0",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address):
    assert not netguard.is_public_ip(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]
)
def test_public_addresses_pass(address):
    assert netguard.is_public_ip(address)


def test_every_resolved_address_must_be_public():
    def mixed(host: str) -> list[str]:
        return ["8.8.8.8", "127.0.0.1"]

    with pytest.raises(FetchError) as caught:
        netguard.resolve_public("mixed.company", mixed, allow_private=False)
    assert caught.value.code == "blocked_private_address"
    assert "127.0.0.1" in caught.value.message
    assert netguard.resolve_public("mixed.company", mixed, allow_private=True) == [
        "8.8.8.8", "127.0.0.1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("errno", "code"),
    [(socket.EAI_NONAME, "dns_nxdomain"), (socket.EAI_AGAIN, "dns_temporary"),
     (socket.EAI_FAIL, "dns_temporary")],
)  # fmt: skip
def test_resolver_errors_are_classified(errno, code):
    def failing(host: str) -> list[str]:
        raise socket.gaierror(errno, "test")

    with pytest.raises(FetchError) as caught:
        netguard.resolve_public("x.company", failing, allow_private=False)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/", "http://[::1]/", "http://10.0.0.1:8080/x", "http://localhost/",
        "http://app.localhost/", "http://printer.local/", "http://metadata.google.internal/",
        "http://intranet/", "http://2130706433/", "http://0x7f.1/", "http://127.1/",
        "file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/",
        "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
        "http://router.home.arpa/", "http://exa mple.com/",
    ],
)  # fmt: skip
def test_url_shapes_that_are_refused(url):
    with pytest.raises(FetchError) as caught:
        netguard.check_url(url, allow_private=False)
    assert caught.value.code == "blocked_private_address"


@pytest.mark.parametrize(
    "url", ["https://acme.company/", "http://xn--mller-kva.de/a?b=c", "https://8.8.8.8:8443/"]
)
def test_url_shapes_that_pass(url):
    assert netguard.check_url(url, allow_private=False) == url


def test_allow_private_lifts_the_shape_check():
    assert netguard.check_url("http://127.0.0.1:9/", allow_private=True)
    assert netguard.check_url("http://localhost:9/", allow_private=True)
    with pytest.raises(FetchError):  # other schemes stay refused
        netguard.check_url("file:///etc/passwd", allow_private=True)


def _loopback(*names: str, calls: list[str] | None = None):
    def resolve(host: str) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in names:
            return ["127.0.0.1"]
        return no_dns(host)

    return resolve


def test_name_resolving_to_loopback_is_refused_before_connecting(
    server: SiteServer, make_qualifier, icp
):
    qualify = make_qualifier(
        FetchSettings(resolver=_loopback("intranet-app.company"), host_delay=0.0, deadline=3.0)
    )
    server.clear_log()
    result = qualify("intranet-app.company", icp)
    assert result["verdict"] == "unknown"
    assert result["error"] == "blocked_private_address"
    assert "127.0.0.1" in reason(result, "site")["evidence"]
    assert not server.requested("intranet-app.company")


def test_the_guard_sits_in_the_transport_itself(server: SiteServer):
    # Bypass the fetcher: the client alone must refuse the real name ``localhost``,
    # resolved by the operating system to loopback.
    client = make_client(FetchSettings(), 8)
    server.clear_log()
    with client, pytest.raises(FetchError) as caught:
        client.get(f"http://localhost:{server.port}/")
    assert caught.value.code == "blocked_private_address"
    assert server.log == []
    # The same request through a client with the guard lifted reaches the server.
    open_client = make_client(FetchSettings(allow_private_networks=True), 8)
    with open_client:
        response = open_client.get(f"http://localhost:{server.port}/")
    assert response.status_code == 502  # the fixture server has no "localhost" site
    assert server.requested("localhost", "/")


def test_direct_mode_connects_to_the_address_the_resolver_returned(server: SiteServer):
    calls: list[str] = []
    settings = FetchSettings(
        allow_private_networks=True, resolver=_loopback("acme-freight.company", calls=calls),
        host_delay=0.0,
    )  # fmt: skip
    fetcher = Fetcher(settings)
    deadline = fetcher.new_deadline()
    try:
        page = fetcher.fetch_page(f"http://acme-freight.company:{server.port}/", deadline)
        about = fetcher.fetch_page(f"http://acme-freight.company:{server.port}/ueber-uns", deadline)
    finally:
        fetcher.close()
    # Real DNS knows no such name: the page can only have come through the resolver.
    assert "Acme Freight" in page.html and "Über uns" in about.html
    # One lookup per connection; the kept-alive connection is reused for the next page.
    assert calls == ["acme-freight.company"]


def test_every_redirect_hop_is_resolved_and_checked_again(server: SiteServer):
    calls: list[str] = []
    settings = FetchSettings(
        allow_private_networks=True, host_delay=0.0,
        resolver=_loopback("hop.company", "www.hop.company", calls=calls),
    )  # fmt: skip
    fetcher = Fetcher(settings)
    try:
        page = fetcher.fetch_page(f"http://hop.company:{server.port}/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert "Second hop" in page.html
    assert page.redirects == [f"http://hop.company:{server.port}/"]
    assert "www.hop.company" in calls


def test_direct_mode_guard_refuses_loopback_answers(server: SiteServer):
    settings = FetchSettings(resolver=_loopback("hop.company"), host_delay=0.0)
    fetcher = Fetcher(settings)
    server.clear_log()
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_page(f"http://hop.company:{server.port}/", fetcher.new_deadline())
    finally:
        fetcher.close()
    assert caught.value.code == "blocked_private_address"
    assert server.log == []


def test_environment_variable_lifts_the_guard(server: SiteServer, icp, monkeypatch):
    monkeypatch.setenv("QUALIFY_ALLOW_PRIVATE_NETWORKS", "1")
    settings = Settings.resolve().with_fetch(resolver=_loopback("crawl-delay.company")).fetch
    assert settings.allow_private_networks is True


def test_gateway_mode_never_resolves_target_names(server: SiteServer, make_qualifier, icp):
    calls: list[str] = []
    qualify = make_qualifier(
        FetchSettings(fetch_via=server.fetch_via, resolver=_loopback(calls=calls), host_delay=0.0)
    )
    assert qualify("acme-freight.company", icp)["verdict"] == "qualified"
    assert calls == []


def test_proxy_environment_is_ignored(monkeypatch):
    # An HTTP proxy from the environment would carry requests around the guard.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    client = make_client(FetchSettings(), 8)
    with client:
        assert client._trust_env is False  # the setting is the contract
    assert isinstance(client, httpx.Client)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme.COM.", "acme.com"),
        ("https://www.acme.co.uk/about", "www.acme.co.uk"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("acme-freight.company", "acme-freight.company"),
    ],
)
def test_domains_are_normalised(raw, expected):
    assert domains.input_domain(raw) == expected


@pytest.mark.parametrize(
    "raw", ["localhost", "printer.local", "8.8.8.8", "[::1]", "acme.com:8080", "foo.notatld",
            "-bad-.com", "a..b.com", ""],
)  # fmt: skip
def test_domains_that_are_not_public_hostnames(raw):
    with pytest.raises(ValueError):
        domains.input_domain(raw)


def test_same_site_uses_the_public_suffix_list():
    assert domains.same_site("www.acme.co.uk", "shop.acme.co.uk")
    assert not domains.same_site("acme.co.uk", "other.co.uk")
    assert domains.registrable_domain("jobs.acme-freight.company") == "acme-freight.company"
