"""``qualify demo``: a whole qualification through the real pipeline, offline.

The demo writes the example ICP and a domain list into a folder, serves a handful of small
fictional company sites (bundled with the package) from a fetch gateway on 127.0.0.1, and
points the web qualifier at that gateway, so the run goes through the queue, a worker and
the web qualifier exactly as a real one does, without any network.

    with DemoGateway() as gateway:
        inputs = write_inputs(Path("qualify-demo"))
        settings = Settings(db=str(inputs.db), fetch=fetch_settings(gateway))
        ...  # prepare_run(...), Qualify.open(settings=settings), app.work_run(...)
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from qualify.demo.sites import SITES, DemoGateway, DemoSite
from qualify.errors import InputError
from qualify.settings import FetchSettings

DEFAULT_DIR = "qualify-demo"
RUN_NAME = "demo: DACH logistics software"
# Quick retries, so the site that is down on its first visit recovers within the demo.
MAX_ATTEMPTS = 3
BACKOFF = 1.0


@dataclass(frozen=True)
class DemoInputs:
    directory: Path
    icp: Path
    domains: Path
    db: Path


def write_inputs(directory: Path, sites: tuple[DemoSite, ...] = SITES) -> DemoInputs:
    """Write ``icp.json`` (the example ICP) and ``domains.txt`` into ``directory``."""
    icp = directory / "icp.json"
    domains = directory / "domains.txt"
    lines = ["# Fictional companies served by `qualify demo` (subdomains of example.com/.net/.org)"]
    lines += [f"{site.host}  # {site.about}" for site in sites]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with resources.as_file(resources.files("qualify.examples") / "icp.json") as source:
            shutil.copyfile(source, icp)
        domains.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{directory}: cannot write the demo's files ({reason})") from None
    return DemoInputs(directory, icp, domains, directory / "qualify.db")


def fetch_settings(gateway: DemoGateway) -> FetchSettings:
    """Fetch settings that send every fetch of the web qualifier through ``gateway``."""
    return FetchSettings(
        fetch_via=gateway.fetch_via,
        resolver=_no_dns,  # gateway mode never resolves names; this makes sure of it
        host_delay=0.05,  # one local server: no need to be as polite as with real sites
        deadline=20.0,
    )


def _no_dns(host: str) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, f"{host}: the demo never resolves names")


__all__ = [
    "BACKOFF",
    "DEFAULT_DIR",
    "MAX_ATTEMPTS",
    "RUN_NAME",
    "SITES",
    "DemoGateway",
    "DemoInputs",
    "DemoSite",
    "fetch_settings",
    "write_inputs",
]
