"""A simulated internet on this machine, for the direct (non-gateway) path of the web
qualifier as it runs in production: real DNS lookups, real TCP and TLS connections.

* a DNS server on 127.0.0.1 (:class:`NameServer`) answering for fixture and generated
  names, whose addresses are spread over a /16 of 127.0.0.0/8 (many names per address);
* HTTP and HTTPS servers on port 80 and 443 of each of those addresses
  (:class:`WebHosts`), with certificates from a test CA the fetcher is told to trust;
* switches that take the whole "network" down and up again: DNS that answers nothing,
  NXDOMAIN for everything, SERVFAIL for everything, or every connection refused.

Names end in ``.company``: a real generic top-level domain (so ``qualify run`` takes them,
and no country is read into them), looked up only here. Nothing leaves loopback, and the
machine's own resolver is never asked.

    with SimInternet({"acme.company": site}, generated=100, addresses=10) as net:
        settings = net.settings()          # FetchSettings for a Fetcher or WebQualifier
        env = net.env()                     # the same for a `qualify worker` process
        net.down("dns-silent"); ...; net.up()
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from qualify.settings import FetchSettings
from qualify.siteserver import Resp, Site
from tests.simnet.nameserver import NXDOMAIN, SERVFAIL, SILENT, NameServer
from tests.simnet.webhosts import AddressStats, TestCA, WebHosts

SUFFIX = "company"
DOWN_MODES = ("dns-silent", "dns-nxdomain", "dns-servfail", "refused")

PAGE = """<!doctype html><html lang="en"><head><title>{name} – freight software</title>
<meta name="description" content="{name} builds fleet and freight management software.">
</head><body><nav><a href="/">Home</a></nav><main><h1>{name}</h1>
<p>{name} is a logistics software company. Our platform and API help freight forwarders,
3PL providers and shippers plan routes, track fleets and invoice customers. {filler}</p>
</main><footer>© 2026 {name} GmbH, Berlin · Tel. +49 30 1234567</footer></body></html>"""
FILLER = "We integrate with your TMS and ERP systems and support teams across Europe. " * 12
NO_ROBOTS = Resp(404, "not found", content_type="text/plain")


class SimUnavailable(RuntimeError):
    """The simulated internet cannot run here (ports 80/443 need root or a capability)."""


def generated_site(host: str) -> Site:
    """A small company homepage (no robots.txt), like the web benchmark's."""
    name = host.split(".")[0].replace("-", " ").title()
    return {"/": Resp(200, PAGE.format(name=name, filler=FILLER)), "/robots.txt": NO_ROBOTS}


class _Sites(Mapping[str, Site]):
    """The fixture sites, and a generated one for every generated name."""

    def __init__(self, fixtures: Mapping[str, Site], generated: set[str]) -> None:
        self.fixtures = fixtures
        self.generated = generated
        self._built: dict[str, Site] = {}

    def __getitem__(self, host: str) -> Site:
        if host in self.fixtures:
            return self.fixtures[host]
        if host in self.generated:
            site = self._built.get(host)
            if site is None:
                site = self._built[host] = generated_site(host)
            return site
        raise KeyError(host)

    def __iter__(self) -> Iterator[str]:
        yield from self.fixtures
        yield from self.generated

    def __len__(self) -> int:
        return len(self.fixtures) + len(self.generated)


class SimInternet:
    def __init__(
        self,
        sites: Mapping[str, Site] | None = None,
        *,
        generated: int = 0,
        addresses: int = 1,
        latency: float = 0.0,
        tls: bool = True,
        place: Mapping[str, int] | None = None,
    ) -> None:
        """``sites`` are placed round-robin over ``addresses`` addresses (``place`` pins a
        name to an address index), then ``generated`` names ``site<i>.company``."""
        self.fixtures = dict(sites or {})
        self.count = addresses
        self.latency = latency
        self.tls = tls
        self.place = dict(place or {})
        self.generated_names = [f"site{i}.{SUFFIX}" for i in range(generated)]
        self.addresses: list[str] = []
        self.names: dict[str, str] = {}
        self.ca = TestCA() if tls else None
        self._tmp = tempfile.TemporaryDirectory(prefix="simnet-")
        self.ca_bundle = (
            self.ca.write_bundle(os.path.join(self._tmp.name, "ca.pem")) if self.ca else None
        )
        self.ns: NameServer | None = None
        self.web: WebHosts | None = None

    # -- life -----------------------------------------------------------------------------

    def start(self) -> SimInternet:
        last: OSError | None = None
        for _ in range(8):
            base = random.randint(64, 250)
            self.addresses = [f"127.{base}.{i // 250}.{i % 250 + 1}" for i in range(self.count)]
            self._assign()
            web = WebHosts(
                self.addresses,
                _Sites(self.fixtures, set(self.generated_names)),
                latency=self.latency,
                ca=self.ca,
            )
            try:
                web.start()
            except PermissionError as exc:
                web.stop()
                raise SimUnavailable(f"cannot listen on ports 80/443 of 127.x.y.z: {exc}") from exc
            except OSError as exc:  # taken by another test session: another /16
                web.stop()
                last = exc
                continue
            self.web = web
            break
        else:
            raise SimUnavailable(f"no free /16 in 127.0.0.0/8 for the web hosts: {last}")
        if self.ca is not None:
            # Issue every certificate now (a key and a signature each, 1 ms or so), not in
            # the middle of a measured handshake.
            for name in self.names:
                self.ca.context_for(name)
        zones = {name.rsplit(".", 1)[-1] for name in self.names} | {SUFFIX}
        self.ns = NameServer({n: [a] for n, a in self.names.items()}, zones=zones).start()
        return self

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.ns is not None:
            self.ns.stop()
        self._tmp.cleanup()

    def __enter__(self) -> SimInternet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _assign(self) -> None:
        self.names = {}
        for index, name in enumerate([*self.fixtures, *self.generated_names]):
            slot = self.place.get(name, index)
            self.names[name] = self.addresses[slot % len(self.addresses)]

    # -- what a fetcher needs -------------------------------------------------------------

    @property
    def dns(self) -> str:
        assert self.ns is not None
        return self.ns.address

    def settings(self, **overrides: Any) -> FetchSettings:
        """Direct fetching over this internet, quickly (no host delay)."""
        values: dict[str, Any] = {
            "dns": self.dns,
            "allow_private_networks": True,  # every "public" address here is loopback
            "ca_bundle": self.ca_bundle,
            "host_delay": 0.0,
            "per_ip_delay": 0.0,
            "deadline": 10.0,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "dns_timeout": 1.0,
        }
        return FetchSettings(**{**values, **overrides})

    def env(self) -> dict[str, str]:
        """The environment of a `qualify` process fetching over this internet."""
        env = {"QUALIFY_DNS": self.dns, "QUALIFY_ALLOW_PRIVATE_NETWORKS": "1"}
        if self.ca_bundle:
            env["QUALIFY_CA_BUNDLE"] = self.ca_bundle
        return env

    def stats(self, name_or_address: str) -> AddressStats:
        assert self.web is not None
        address = self.names.get(name_or_address, name_or_address)
        return self.web.stats[address]

    # -- switches -------------------------------------------------------------------------

    def down(self, how: str) -> None:
        """Take the whole network down: ``dns-silent`` (no DNS answers at all),
        ``dns-nxdomain`` (every name "does not exist"), ``dns-servfail``, or ``refused``
        (DNS works, every connection is refused)."""
        assert self.ns is not None and self.web is not None
        if how == "refused":
            self.web.down()
            return
        modes = {"dns-silent": SILENT, "dns-nxdomain": NXDOMAIN, "dns-servfail": SERVFAIL}
        if how not in modes:
            raise ValueError(f"{how!r}: expected one of {', '.join(DOWN_MODES)}")
        self.ns.mode = modes[how]

    def up(self) -> None:
        assert self.ns is not None and self.web is not None
        self.ns.mode = None
        if not self.web.listening:
            self.web.up()
