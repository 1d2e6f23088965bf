"""DNS asked by qualify itself: answers and their TTLs cached per process, "no such name"
cached briefly, failures told apart, every lookup bounded in time, and the SSRF guard on
every address a connection goes to. Against a real DNS server on 127.0.0.1; the machine's
own resolver is never asked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from qualify.errors import ConfigError
from qualify.qualifiers.web import codes
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.fetch import Fetcher
from qualify.qualifiers.web.resolver import DnsResolver
from qualify.settings import FetchSettings, Settings
from tests.simnet import SimInternet
from tests.simnet.nameserver import NXDOMAIN, SERVFAIL, SILENT, TTL, NameServer
from tests.test_cli import invoke
from tests.web.test_fetch import FakeClock


@pytest.fixture
def ns() -> Iterator[NameServer]:
    server = NameServer({"acme.company": ["127.9.0.1", "127.9.0.2"]}, zones={"company"})
    with server:
        yield server


def resolver(ns: NameServer, clock: FakeClock | None = None, **settings: object) -> DnsResolver:
    fetch = FetchSettings(dns=ns.address, dns_timeout=1.0, **settings)  # type: ignore[arg-type]
    return DnsResolver(fetch, clock=clock or time.monotonic)


def failure(resolve: DnsResolver, host: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        resolve.resolve(host)
    assert caught.value.stage == codes.DNS
    return caught.value


def test_answers_are_cached_for_their_ttl(ns: NameServer) -> None:
    clock = FakeClock()
    dns = resolver(ns, clock)
    first = dns.resolve("acme.company")
    assert sorted(first) == ["127.9.0.1", "127.9.0.2"]
    assert dns.resolve("ACME.company.") == first  # the cached answer, in the same order
    assert ns.asked("acme.company") == 1
    clock.now += TTL + 1
    dns.resolve("acme.company")
    assert ns.asked("acme.company") == 2
    assert (dns.stats.lookups, dns.stats.cached) == (2, 1)


def test_a_ttl_longer_than_the_cap_is_cut(ns: NameServer) -> None:
    clock = FakeClock()
    dns = resolver(ns, clock, dns_max_ttl=10.0)
    dns.resolve("acme.company")
    clock.now += 11
    dns.resolve("acme.company")
    assert ns.asked("acme.company") == 2


def test_no_such_name_is_believed_briefly(ns: NameServer) -> None:
    clock = FakeClock()
    dns = resolver(ns, clock, dns_negative_ttl=5.0)
    assert failure(dns, "gone.company").code == codes.DNS_NXDOMAIN
    assert failure(dns, "gone.company").code == codes.DNS_NXDOMAIN
    assert ns.asked("gone.company") == 1
    clock.now += 6
    failure(dns, "gone.company")
    assert ns.asked("gone.company") == 2
    dns.forget_failures()  # what a probe that finds the network back does
    failure(dns, "gone.company")
    assert ns.asked("gone.company") == 3


def test_servfail_is_temporary_and_never_cached(ns: NameServer) -> None:
    ns.behaviour["acme.company"] = SERVFAIL
    dns = resolver(ns)
    error = failure(dns, "acme.company")
    assert error.code == codes.DNS_TEMPORARY and "SERVFAIL" in error.message
    failure(dns, "acme.company")
    assert ns.asked("acme.company") >= 2


def test_a_server_that_never_answers_costs_one_timeout(ns: NameServer) -> None:
    ns.behaviour["acme.company"] = SILENT
    dns = resolver(ns)
    started = time.monotonic()
    error = failure(dns, "acme.company")
    took = time.monotonic() - started
    assert error.code == codes.DNS_TEMPORARY and "no answer within 1s" in error.message
    assert took < 2.5  # the whole lookup is bounded (getaddrinfo could block for minutes)


def test_a_slow_answer_within_the_timeout_is_an_answer(ns: NameServer) -> None:
    ns.behaviour["acme.company"] = 0.3
    assert sorted(resolver(ns).resolve("acme.company")) == ["127.9.0.1", "127.9.0.2"]


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    # Nothing listens there, as on a machine whose resolver is down.
    server = NameServer()
    address = server.address
    server._sock.close()
    dns = DnsResolver(FetchSettings(dns=address, dns_timeout=2.0))
    assert failure(dns, "acme.company").code == codes.DNS_TEMPORARY


def test_localhost_never_leaves_the_machine(ns: NameServer) -> None:
    dns = resolver(ns)
    assert dns.resolve("localhost") == ["127.0.0.1", "::1"]
    assert dns.resolve("app.localhost") == ["127.0.0.1", "::1"]
    assert ns.asked("localhost") == ns.asked("app.localhost") == 0


def test_the_zone_probe_tells_a_working_resolver_from_a_broken_one(ns: NameServer) -> None:
    dns = resolver(ns)
    assert dns.zone_answers("company") is True
    for mode in (NXDOMAIN, SILENT, SERVFAIL):
        ns.mode = mode
        assert dns.zone_answers("company") is False, mode
    ns.mode = None
    assert dns.zone_answers("company") is True


def test_every_address_a_connection_goes_to_is_checked(icp) -> None:
    # The simulated internet's addresses are loopback ones: with the guard on, a name that
    # resolves there is refused before any connection is made.
    with SimInternet(generated=1) as net:
        fetcher = Fetcher(net.settings(allow_private_networks=False))
        try:
            with pytest.raises(FetchError) as caught:
                fetcher.fetch_page("https://site0.company/", fetcher.new_deadline())
        finally:
            fetcher.close()
        assert caught.value.code == "blocked_private_address"
        assert net.addresses[0] in caught.value.message
        assert net.web.log == []
        assert net.ns.asked("site0.company") == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [("dns.google", "is not an IP address"), ("127.0.0.1:99999", "no valid port"),
     ("[::1", "is not host"), (",", "expected an address")],
)  # fmt: skip
def test_a_malformed_dns_setting_is_refused(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Settings.resolve(environ={"QUALIFY_DNS": value})


def test_the_dns_option_is_checked_before_anything_is_written(tmp_path) -> None:
    db = tmp_path / "q.db"
    result = invoke("--db", str(db), "worker", "--burst", "--dns", "resolver.local")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: dns: 'resolver.local' is not an IP address"
    assert not db.exists()


def test_qualify_dns_reaches_the_fetcher(ns: NameServer) -> None:
    settings = Settings.resolve(environ={"QUALIFY_DNS": f"{ns.address}, 127.0.0.1:1"})
    fetcher = Fetcher(settings.fetch)
    try:
        assert sorted(fetcher.resolver.resolve("acme.company")) == ["127.9.0.1", "127.9.0.2"]
        assert str(ns.port) in fetcher.resolver.description
    finally:
        fetcher.close()
