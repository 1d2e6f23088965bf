"""The llm qualifier's throughput and cost: `qualify worker --burst` over fixture sites
fetched through a local gateway, the scripted OpenAI-compatible server answering every
model call after a fixed latency.

Run: python tests/bench/bench_llm.py [--domains 1000] [--latency 0.5] [--llm-concurrency 8]
                                     [--concurrency 32] [--mix 0.2]

A mixed list: ``1 - mix`` of the domains are company sites with a homepage and three
same-site pages of text (every one different, so no prompt repeats), the rest split
between parked domains and sites that answer 404: those are decided without a model call.
One worker process works the run; then a second run of the same list.

Figures:
- model calls per second, from the first claim to the last completion, against the ideal
  measured by the setup itself: llm-concurrency / latency (the server can serve no faster);
- tokens per model-judged domain (median, p95) at the default character budget (12,000),
  as the scripted server counts them (four characters a token, about what real tokenizers
  give for English);
- the share of domains decided without a model call;
- the second run's tokens (the verdict cache: zero expected) and its wall time.
Asserts nothing. The machine is shared: run it more than once and report ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qualify.siteserver import Resp, SiteServer  # noqa: E402
from tests.llmserver import LlmServer  # noqa: E402
from tests.web.sites import GONE, PARKED, page  # noqa: E402

ICP = {
    "name": "DACH logistics SaaS",
    "description": "B2B SaaS for logistics in DACH, 50-1000 people; not agencies",
}
WORDS = [
    "fleet", "freight", "route", "dispatch", "warehouse", "customs", "tracking", "platform",
    "invoice", "carrier", "shipment", "pallet", "trailer", "driver", "tender", "quote",
    "integration", "partner", "europe", "service",
]  # fmt: skip


def prose(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 13 + i // 5) % len(WORDS)] for i in range(words)) + "."


def company(i: int) -> dict:
    nav = '<a href="/about">About</a><a href="/pricing">Pricing</a><a href="/careers">Careers</a>'
    body = f"<p>Company {i} builds {prose(i, 150 + i * 37 % 900)}</p>"
    home = page(f"Company {i} - logistics software", body, nav=nav,
                description=f"Software number {i} for logistics teams")  # fmt: skip
    return {
        "/": Resp(200, home),
        "/about": Resp(
            200, page("About", f"<p>About company {i}: {prose(i + 1, 60 + i * 53 % 500)}</p>")
        ),
        "/pricing": Resp(
            200, page("Pricing", f"<p>Plans of {i}: {prose(i + 2, 40 + i * 29 % 400)}</p>")
        ),
        "/careers": Resp(
            200, page("Careers", f"<p>Jobs at {i}: {prose(i + 3, 40 + i * 31 % 400)}</p>")
        ),
    }


def sites(count: int, mix: float) -> dict[str, dict]:
    found: dict[str, dict] = {}
    cheap = round(count * mix)
    for i in range(count):
        name = f"site{i:05d}.com"
        if i < cheap // 2:
            found[name] = PARKED
        elif i < cheap:
            found[name] = GONE
        else:
            found[name] = company(i)
    return found


def run_once(db: Path, listing: Path, env: dict[str, str], args: argparse.Namespace) -> float:
    icp = db.with_name("icp.json")
    icp.write_text(json.dumps(ICP))
    subprocess.run(
        [sys.executable, "-m", "qualify", "run", str(icp), str(listing), "--qualifier", "llm",
         "--model", "test-model"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.monotonic()
    worker = subprocess.run(
        [sys.executable, "-m", "qualify", "worker", "--burst", "-q", "--concurrency",
         str(args.concurrency), "--llm-concurrency", str(args.llm_concurrency), "--fetch-via",
         env["FETCH_VIA"]],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if worker.returncode:
        raise RuntimeError(f"the worker failed:\n{worker.stderr}")
    return time.monotonic() - started


def figures(db: Path, run_id: int) -> dict:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT extra FROM results WHERE run_id = ?", (run_id,)).fetchall()
    first, last = conn.execute(
        "SELECT MIN(started_at), MAX(finished_at) FROM jobs WHERE run_id = ?", (run_id,)
    ).fetchone()
    account = conn.execute(
        "SELECT prompt_tokens + completion_tokens, calls, cache_hits FROM llm_accounts"
        " WHERE run_id = ?", (run_id,),
    ).fetchone()  # fmt: skip
    failed = conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE run_id = ? AND state != 'done'", (run_id,)
    ).fetchone()[0]
    conn.close()
    llm = [json.loads(extra)["llm"] for (extra,) in rows]
    paid = [
        x["paid_usage"]["total_tokens"] for x in llm if x.get("model_call") or x.get("cache_hit")
    ]
    return {
        "results": len(rows),
        "not_done": failed,
        "span": last - first,
        "without_model": sum(1 for x in llm if not x.get("model_call") and not x.get("cache_hit")),
        "tokens_per_domain": paid,
        "tokens": account[0] if account else 0,
        "calls": account[1] if account else 0,
        "cache_hits": account[2] if account else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--llm-concurrency", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--mix", type=float, default=0.2, help="share of cheap domains")
    args = parser.parse_args()

    fixture = sites(args.domains, args.mix)
    gateway = SiteServer(fixture).start()
    model = LlmServer(latency=args.latency).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            listing = Path(tmp) / "domains.txt"
            listing.write_text("".join(f"{d}\n" for d in fixture))
            env = {**os.environ, "QUALIFY_DB": str(db), "QUALIFY_LLM_BASE_URL": model.base_url,
                   "FETCH_VIA": gateway.fetch_via, "PYTHONPATH": str(ROOT)}  # fmt: skip
            first_wall = run_once(db, listing, env, args)
            first = figures(db, 1)
            second_wall = run_once(db, listing, env, args)
            second = figures(db, 2)
    finally:
        gateway.stop()
        model.stop()

    ideal = args.llm_concurrency / args.latency
    rate = first["calls"] / first["span"]
    tokens = sorted(first["tokens_per_domain"])
    p95 = tokens[min(len(tokens) - 1, int(0.95 * len(tokens)))] if tokens else 0
    print(f"llm qualifier, {args.domains:,} domains ({args.mix:.0%} parked or 404), model"
          f" latency {args.latency:g}s, --llm-concurrency {args.llm_concurrency},"
          f" --concurrency {args.concurrency}")  # fmt: skip
    print(f"  first run: {first['results']:,} results ({first['not_done']} not done) in"
          f" {first['span']:.1f}s claim-to-finish, {first_wall:.1f}s wall")  # fmt: skip
    print(f"  model calls/s: {rate:.2f} vs ideal {ideal:.2f} (llm-concurrency / latency):"
          f" {rate / ideal:.0%}; {first['calls']:,} calls, {first['results'] / first['span']:.2f}"
          f" domains/s overall")  # fmt: skip
    print(f"  tokens per model-judged domain: median {statistics.median(tokens):,.0f}, p95"
          f" {p95:,}; run total {first['tokens']:,}")  # fmt: skip
    print(f"  decided without a model call: {first['without_model']:,} of {first['results']:,}"
          f" ({first['without_model'] / max(1, first['results']):.0%})")  # fmt: skip
    print(f"  second run of the same list: {second['tokens']:,} tokens, {second['calls']} model"
          f" calls, {second['cache_hits']:,} cache hits, {second_wall:.1f}s wall,"
          f" {second['results']:,} results")  # fmt: skip


if __name__ == "__main__":
    main()
