"""Web qualification throughput: `qualify worker` with the web qualifier against a local
fetch gateway that answers every request after a fixed latency.

Run: python tests/bench/bench_web.py [--sites 2000] [--latency 0.2] [--concurrency 16 64 128]

For each concurrency, a fresh run of ``--sites`` single-page sites goes through one
`qualify worker --burst` process (the real pipeline: queue, leases, group commit, web
qualifier through the gateway on 127.0.0.1). Throughput is measured in the store, from the
first claim to the last completion. Two ideals are printed:
- the issue's: concurrency / latency, one request per domain;
- the protocol's: concurrency / (latency x requests per domain). Each site costs two
  sequential requests, robots.txt then the homepage: the homepage may not be asked for before
  robots.txt allows it, so no client can do better without ignoring robots.txt.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[2]
PAGE = """<!doctype html><html lang="en"><head><title>{name} – freight software</title>
<meta name="description" content="{name} builds fleet and freight management software.">
</head><body><nav><a href="/">Home</a></nav><main><h1>{name}</h1>
<p>{name} is a logistics software company. Our platform and API help freight forwarders,
3PL providers and shippers plan routes, track fleets and invoice customers. {filler}</p>
</main><footer>© 2026 {name} GmbH, Berlin · Tel. +49 30 1234567</footer></body></html>"""
FILLER = "We integrate with your TMS and ERP systems and support teams across Europe. " * 12


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # many connections arrive at once

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fetch?url={{url}}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without this, Nagle and delayed
    # ACKs hold every response back 40 ms.
    disable_nagle_algorithm = True
    server: Gateway

    def do_GET(self) -> None:
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.requests += 1
        target = urlsplit(parse_qs(urlsplit(self.path).query)["url"][0])
        if target.path == "/robots.txt":
            status, body, kind = 404, b"not found", "text/plain"
        else:
            name = (target.hostname or "").split(".")[0].capitalize()
            status, body, kind = 200, PAGE.format(name=name, filler=FILLER).encode(), "text/html"
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def measure(directory: Path, gateway: Gateway, sites: int, concurrency: int) -> tuple[float, int]:
    db = directory / f"web-{concurrency}.db"
    env = {**os.environ, "QUALIFY_DB": str(db), "QUALIFY_FETCH_VIA": gateway.template}
    icp = ROOT / "qualify" / "examples" / "icp.json"
    domains = directory / "domains.txt"
    domains.write_text("".join(f"site{i}-c{concurrency}.example.com\n" for i in range(sites)))
    subprocess.run(
        [sys.executable, "-m", "qualify", "run", str(icp), str(domains)],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    before = gateway.requests
    subprocess.run(
        [sys.executable, "-m", "qualify", "worker", "--burst", "--concurrency",
         str(concurrency), "-q"],
        env=env, check=True,
    )  # fmt: skip
    conn = sqlite3.connect(db)
    first, last, done = conn.execute(
        "SELECT MIN(started_at), MAX(finished_at), COUNT(*) FROM jobs WHERE state = 'done'"
    ).fetchone()
    errors = conn.execute(
        "SELECT COUNT(*) FROM results WHERE json_extract(extra, '$.error') IS NOT NULL"
    ).fetchone()[0]
    conn.close()
    if done != sites or errors:
        print(f"  warning: {done} of {sites} done, {errors} with a fetch error")
    return sites / (last - first), gateway.requests - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 128])
    args = parser.parse_args()
    gateway = Gateway(args.latency)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    print(f"{args.sites:,} single-page sites, gateway latency {args.latency * 1000:.0f} ms")
    print(f"{'concurrency':>11} {'domains/s':>10} {'req/domain':>10} "
          f"{'of conc/lat':>12} {'of protocol ideal':>18}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency:
            rate, requests = measure(Path(tmp), gateway, args.sites, concurrency)
            per_domain = requests / args.sites
            ideal = concurrency / args.latency
            protocol = ideal / per_domain
            print(f"{concurrency:>11} {rate:>10.1f} {per_domain:>10.2f} "
                  f"{rate / ideal:>11.0%} {rate / protocol:>18.0%}")  # fmt: skip
    gateway.shutdown()


if __name__ == "__main__":
    main()
