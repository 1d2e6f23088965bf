"""CPU cost of parse + signals + score for a ~250 KB homepage; prints, asserts nothing.

Run: python tests/bench/bench_web_cpu.py [--repeat 200]

Measures process CPU time (time.process_time) per page over repeated runs, after a
warm-up, and prints the median, mean and 90th percentile. Fetching is not included.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from qualify.qualifiers.web import extract, scoring, site_signals
from qualify.qualifiers.web.icp import example_icp

_VOCABULARY = (
    "freight logistics platform carriers shippers visibility real-time tracking teams "
    "warehouse fleet api integration customers enterprise automate invoices routes "
    "dashboard reporting compliance secure cloud partners europe delivery"
)
_WORDS = _VOCABULARY.split()


def make_page(target_bytes: int = 250_000, seed: int = 7) -> str:
    """A synthetic but realistic homepage: heavy markup, inline JSON, scripts, nav, footer."""
    rnd = random.Random(seed)

    def sentence(n: int = 14) -> str:
        return " ".join(rnd.choice(_WORDS) for _ in range(n)).capitalize() + "."

    head = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Acme Freight – Logistics software for modern fleets</title>",
        "<meta name='description' content='Freight visibility and fleet management for 3PLs.'>",
        "<meta property='og:title' content='Acme Freight'>",
        "<meta name='generator' content='Webflow'>",
        "<link rel='stylesheet' href='https://cdn.prod.website-files.com/site.css'>",
        "<script src='https://js.hs-scripts.com/123.js'></script>",
        "<script src='https://cdn.segment.com/analytics.js/v1/x/analytics.min.js'></script>",
        "<script src='https://www.googletagmanager.com/gtm.js?id=GTM-XXXX'></script>",
        "<script type='application/ld+json'>" + json.dumps({
            "@context": "https://schema.org", "@type": "Organization", "name": "Acme Freight GmbH",
            "numberOfEmployees": {"@type": "QuantitativeValue", "value": 250},
            "address": {"@type": "PostalAddress", "addressCountry": "DE"},
            "sameAs": ["https://www.linkedin.com/company/acme-freight"]}) + "</script>",
        "<style>" + ".c{color:red}" * 800 + "</style></head><body>",
    ]  # fmt: skip
    nav = ["<header><nav>"] + [
        f"<a class='nav-link text-sm font-medium px-3' href='/section-{i}'>Section {i}</a>"
        for i in range(40)
    ] + ["<a href='/pricing'>Pricing</a><a href='/about'>About</a><a href='/careers'>Careers</a>",
         "<a class='btn' href='/demo'>Book a demo</a></nav></header><main>"]  # fmt: skip
    parts = head + nav
    inline = "<script>window.__DATA__=" + json.dumps(
        {"items": [{"id": i, "name": sentence(6), "url": f"https://cdn.example.net/img/{i}.png"}
                   for i in range(300)]}) + "</script>"  # fmt: skip
    parts.append(inline)
    size = sum(len(p) for p in parts)
    footer = (
        "</main><footer><p>© 2024 Acme Freight GmbH, Friedrichstraße 1, 10117 Berlin, Germany."
        " Tel +49 30 1234567</p><a href='https://www.linkedin.com/company/acme-freight'>LinkedIn"
        "</a><a href='/impressum'>Impressum</a></footer></body></html>"
    )
    i = 0
    while size < target_bytes - len(footer):
        block = (
            f"<section class='mx-auto max-w-7xl px-4 sm:px-6 lg:px-8 py-16' id='s{i}'>"
            f"<div class='grid grid-cols-1 gap-8 md:grid-cols-3'><div class='card shadow-lg'>"
            f"<h2 class='text-2xl font-bold tracking-tight'>{sentence(5)}</h2>"
            f"<p class='mt-4 text-lg leading-8 text-gray-600'>{sentence()} {sentence()}</p>"
            f"<svg viewBox='0 0 24 24'><path d='M12 2L2 7l10 5 10-5-10-5z'/></svg>"
            f"<img src='/img/{i}.webp' alt='{sentence(4)}'></div></div></section>"
        )
        parts.append(block)
        size += len(block)
        i += 1
    parts.append(footer)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    html = make_page()
    raw = html.encode()  # the fetcher hands the parser the page's UTF-8 bytes as received
    icp = example_icp()
    url = "https://acme-freight.example/"
    headers = {"server": "cloudflare", "content-type": "text/html"}

    def once() -> None:
        page, _links = extract.parse_page(
            html, url, headers=headers, cookies=["hubspotutk"], utf8=raw
        )
        signals = site_signals.merge_site("acme-freight.example", [page], final_url=url)
        scoring.score(signals, icp)

    for _ in range(10):  # warm caches (fingerprint table, compiled ICP, public suffix list)
        once()
    runs = []
    for _ in range(args.repeat):
        start = time.process_time()
        once()
        runs.append(time.process_time() - start)
    runs.sort()
    total = sum(runs)
    print(f"page size: {len(html.encode()) / 1000:.0f} KB, runs: {args.repeat}")
    print(
        f"CPU per page (parse + signals + score): median {runs[len(runs) // 2] * 1000:.2f} ms, "
        f"mean {total / len(runs) * 1000:.2f} ms, p90 {runs[int(len(runs) * 0.9)] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
