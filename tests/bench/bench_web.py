"""Web qualification throughput: `qualify worker` with the web qualifier, through a fetch
gateway and directly over the simulated internet, every request answered after a fixed
latency.

Run: python tests/bench/bench_web.py [--sites 2000] [--addresses 500] [--latency 0.2]
                                     [--concurrency 16 64 128 256] [--paths gateway direct]

For each path and concurrency, a fresh run of ``--sites`` single-page sites goes through one
`qualify worker --burst` process (the real pipeline: queue, leases, group commit, the web
qualifier); ``direct2`` is the direct path in two processes of half the concurrency each.
Throughput is measured in the store, from the first claim to the last completion.

* gateway: every request goes to one local gateway on 127.0.0.1, which answers after the
  latency (as a scraping service would).
* direct: as in production. The worker asks the simulated internet's DNS server
  (QUALIFY_DNS) for every name, and fetches over HTTPS from servers on ``--addresses``
  loopback addresses (4 names each by default), with qualify's default politeness (per-IP
  connection cap and spacing). Certificates come from a test CA the worker trusts.
  DNS's share is the time the worker's threads spent in DNS lookups (its resolver's own
  count, logged when the worker stops) over their time in all.

Ideals, measured in the same run:
- the issue's: concurrency / latency, one request per domain;
- the protocol's: concurrency / (latency x requests per domain, counted by the servers).
  Each site costs two sequential requests, robots.txt then the homepage: the homepage may
  not be asked for before robots.txt allows it, so no client can do better without ignoring
  robots.txt;
- for the direct path, a raw client at the same concurrency over the same internet: threads
  doing one lookup and the same two requests over one keep-alive TLS connection per site
  (dnspython and http.client, no qualify code): what the simulated internet itself can
  serve on this machine.
Asserts nothing. The machine is shared: run it more than once and report ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
sys.path.insert(0, str(ROOT))

from tests.simnet import FILLER, PAGE, SimInternet  # noqa: E402

ICP = ROOT / "qualify" / "examples" / "icp.json"


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


def work(
    db: Path, domains: list[str], concurrency: int, env: dict[str, str], processes: int = 1
) -> str:
    """Queue ``domains`` and work them with ``processes`` burst workers of ``concurrency``
    each; their logs."""
    env = {**os.environ, **env, "QUALIFY_DB": str(db)}
    listing = db.with_suffix(".txt")
    listing.write_text("".join(f"{d}\n" for d in domains))
    subprocess.run(
        [sys.executable, "-m", "qualify", "run", str(ICP), str(listing)],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    command = [sys.executable, "-m", "qualify", "worker", "--burst", "--concurrency",
               str(concurrency)]  # fmt: skip
    workers = [
        subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    logs = [w.communicate()[1] for w in workers]
    if any(w.returncode for w in workers):
        raise RuntimeError("a worker failed:\n" + "\n".join(logs))
    return "\n".join(logs)


def throughput(db: Path, sites: int) -> tuple[float, float]:
    """Domains per second from the first claim to the last completion, and that span."""
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
    return sites / (last - first), last - first


def gateway_path(directory: Path, gateway: Gateway, sites: int, concurrency: int) -> tuple:
    domains = [f"site{i}-c{concurrency}.example.com" for i in range(sites)]
    before = gateway.requests
    db = directory / f"gateway-{concurrency}.db"
    work(db, domains, concurrency, {"QUALIFY_FETCH_VIA": gateway.template})
    rate, _ = throughput(db, sites)
    return rate, (gateway.requests - before) / sites, None


_DNS_LINE = re.compile(r"DNS: (\d+) lookups in ([\d.]+)s")


def direct_path(
    directory: Path, net: SimInternet, sites: int, concurrency: int, processes: int = 1
) -> tuple:
    assert net.web is not None
    before = sum(s.requests for s in net.web.stats.values())
    db = directory / f"direct-{concurrency}x{processes}.db"
    log = work(db, net.generated_names[:sites], concurrency // processes, net.env(), processes)
    rate, span = throughput(db, sites)
    requests = sum(s.requests for s in net.web.stats.values()) - before
    seconds = sum(float(found.group(2)) for found in _DNS_LINE.finditer(log))
    dns_share = seconds / (concurrency * span) if seconds else None
    return rate, requests / sites, dns_share


def raw_client(net: SimInternet, sites: int, concurrency: int) -> float:
    """Domains per second of the raw client, run in its own process (the servers have the
    GIL of this one)."""
    spec = {"dns": net.dns, "ca": net.ca_bundle, "sites": sites, "concurrency": concurrency}
    done = subprocess.run(
        [sys.executable, __file__, "--raw-client", json.dumps(spec)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(done.stdout.strip())


def _raw_client_main(spec: dict) -> None:
    import http.client
    import socket
    import ssl

    import dns.nameserver
    import dns.resolver

    host, port = spec["dns"].split(":")
    # The simulated internet's generated names, as SimInternet makes them.
    names: list[str] = list(spec.get("names") or (f"site{i}.company" for i in range(spec["sites"])))
    count = len(names)
    context = ssl.create_default_context(cafile=spec["ca"])
    lock = threading.Lock()

    def one_thread() -> None:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, int(port))]
        while True:
            with lock:
                if not names:
                    return
                name = names.pop()
            address = str(resolver.resolve(name, "A")[0])
            sock = socket.create_connection((address, 443), timeout=30)
            conn = http.client.HTTPConnection(name, 443, timeout=30)
            conn.sock = context.wrap_socket(sock, server_hostname=name)
            for path in ("/robots.txt", "/"):
                conn.request("GET", path)
                conn.getresponse().read()
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=one_thread) for _ in range(spec["concurrency"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(count / (time.monotonic() - started))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--raw-client":
        _raw_client_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--addresses", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 128, 256])
    parser.add_argument("--paths", nargs="+", default=["gateway", "direct", "direct2"],
                        choices=["gateway", "direct", "direct2"],
                        help="direct2: the direct path in two worker processes of half"
                             " the concurrency each (from 128 on)")  # fmt: skip
    args = parser.parse_args()
    gateway = Gateway(args.latency)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    net = SimInternet(generated=args.sites, addresses=args.addresses, latency=args.latency)
    net.start()
    print(f"{args.sites:,} single-page sites, latency {args.latency * 1000:.0f} ms per request;"
          f" direct: {args.addresses} addresses, HTTPS, DNS on 127.0.0.1")  # fmt: skip
    print(f"{'path':>7} {'conc':>5} {'domains/s':>10} {'req/domain':>10} {'of conc/lat':>12}"
          f" {'of protocol':>12} {'raw client':>11} {'of raw':>7} {'DNS share':>10}")  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for concurrency in args.concurrency:
                for path in args.paths:
                    if path == "gateway":
                        rate, per_domain, dns_share = gateway_path(
                            Path(tmp), gateway, args.sites, concurrency
                        )
                        raw = None
                    elif path == "direct2":
                        if concurrency < 128:
                            continue
                        rate, per_domain, dns_share = direct_path(
                            Path(tmp), net, args.sites, concurrency, processes=2
                        )
                        raw = None
                    else:
                        rate, per_domain, dns_share = direct_path(
                            Path(tmp), net, args.sites, concurrency
                        )
                        raw = raw_client(net, args.sites, concurrency)
                    ideal = concurrency / args.latency
                    protocol = ideal / per_domain
                    print(
                        f"{path:>7} {concurrency:>5} {rate:>10.1f} {per_domain:>10.2f}"
                        f" {rate / ideal:>11.0%} {rate / protocol:>12.0%}"
                        + (f" {raw:>11.1f} {rate / raw:>7.0%}" if raw else f" {'':>11} {'':>7}")
                        + (f" {dns_share:>10.1%}" if dns_share is not None else "")
                    )
    finally:
        net.stop()
        gateway.shutdown()


if __name__ == "__main__":
    main()
