"""The demo's fictional companies: HTML bundled in ``qualify/demo/sites/<host>/``.

Every host is a subdomain of the IANA-reserved example.com / example.net / example.org, so
no real company is ever implied, and each still passes ``qualify run``'s check for a public
suffix. A page is ``<path>.html`` (``index.html`` for ``/``); ``robots.txt`` as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable


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
