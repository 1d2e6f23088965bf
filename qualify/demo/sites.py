"""The demo's fictional companies: HTML bundled in ``qualify/demo/sites/<host>/``, and the
gateway that serves them.

Every host is a subdomain of the IANA-reserved example.com / example.net / example.org, so
no real company is ever implied, and each still passes ``qualify run``'s check for a public
suffix. A page is ``<path>.html`` (``index.html`` for ``/``); ``robots.txt`` as is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

from qualify.siteserver import Request, Resp, SiteServer


@dataclass(frozen=True)
class DemoSite:
    host: str
    #: What the example ICP (qualify/examples/icp.json) should make of it, and why.
    about: str
    #: Homepage visits answered "503 Service Unavailable" before the site works (a large
    #: number: never), so the pipeline's retries can be seen.
    unavailable_first: int = 0

    def page(self, path: str) -> Traversable | None:
        """The bundled file for ``path`` on this site, or None (a 404)."""
        name = path.split("?", 1)[0].strip("/") or "index"
        if "/" in name or name.startswith("."):
            return None  # the bundle is flat: nothing can reach outside a site's folder
        folder = resources.files("qualify.demo") / "sites" / self.host
        for candidate in (name, f"{name}.html"):
            item = folder / candidate
            if item.is_file():
                return item
        return None


SITES: tuple[DemoSite, ...] = (
    DemoSite(
        "acme-freight.example.com",
        "fit: German transport-management SaaS, 250 staff, HubSpot, pricing and demo pages",
    ),
    DemoSite(
        "fleetwise.example.net",
        "fit: Swiss fleet-management software in English, 80 staff, Segment",
    ),
    DemoSite(
        "lagerwerk.example.org",
        "fit: Austrian warehouse software; down for maintenance on the first visit (a retry)",
        unavailable_first=1,
    ),
    DemoSite(
        "smallfleet.example.com",
        "review: a Hamburg fleet consultancy of 40 (the ICP wants software, 50-1000 staff)",
    ),
    DemoSite(
        "bigfreight.example.org",
        "misfit: US freight platform with 5,000 employees (country and size filters)",
    ),
    DemoSite(
        "shoply.example.net",
        "misfit: a B2C sneaker shop on Shopify (the ICP excludes Shopify)",
    ),
    DemoSite(
        "freight-deals.example.net",
        "misfit: a parked domain for sale",
    ),
)


class _Pages:
    """One demo site as a :class:`SiteServer` handler for every path."""

    def __init__(self, site: DemoSite) -> None:
        self.site = site
        self._visits = 0  # homepage visits
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Resp:
        path = request.path.split("?", 1)[0]
        if path == "/" and self._visit() <= self.site.unavailable_first:
            return Resp(503, b"<html><body><h1>Down for maintenance</h1></body></html>")
        page = self.site.page(path)
        if page is None:
            return Resp(404, b"<h1>Not found</h1>")
        kind = "text/plain" if page.name.endswith(".txt") else "text/html"
        return Resp(200, page.read_bytes(), content_type=f"{kind}; charset=utf-8")

    def _visit(self) -> int:
        with self._lock:
            self._visits += 1
            return self._visits


class DemoGateway:
    """The demo's ``sites`` on a :class:`~qualify.siteserver.SiteServer` on 127.0.0.1, used as
    the web qualifier's fetch gateway; serves from ``start`` (or a ``with`` block) to ``stop``.
    """

    def __init__(self, sites: Iterable[DemoSite] = SITES) -> None:
        self.sites = {site.host: site for site in sites}
        self.server = SiteServer({host: {"*": _Pages(site)} for host, site in self.sites.items()})

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def fetch_via(self) -> str:
        """The URL template for ``--fetch-via`` / ``FetchSettings(fetch_via=...)``."""
        return self.server.fetch_via

    @property
    def requested(self) -> list[str]:
        """Every target URL asked for, in order (what the demo's run fetched)."""
        return [f"{scheme}://{host}{path}" for scheme, host, path in self.server.log]

    def respond(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one target URL."""
        return self.server.respond(target)

    def start(self) -> DemoGateway:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> DemoGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
