"""Run every benchmark, one after the other, and print what each prints.

Run: python tests/bench/run_all.py [--quick]

--quick uses smaller sizes (a minute or two in all) for a smoke run; without it, the sizes
the README's Performance section reports (about ten minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    (
        "Queueing",
        "bench_queueing.py",
        ["--sizes", "200000", "1000000", "--csv"],
        ["--sizes", "50000", "--csv"],
    ),
    ("Worker overhead", "bench_worker.py", ["--jobs", "20000"], ["--jobs", "5000"]),
    ("Web qualification", "bench_web.py", [], ["--sites", "300", "--concurrency", "16", "64"]),
    ("Web CPU per page", "bench_web_cpu.py", [], ["--repeat", "50"]),
    ("Status at scale", "bench_status.py", [], ["--jobs", "100000"]),
    ("Web page latency", "bench_ui.py", [], ["--jobs", "100000", "--requests", "100"]),
    ("Recovery", "bench_recovery.py", [], []),
    ("Rescore", "bench_rescore.py", [], ["--domains", "5000", "--concurrency", "4"]),
    ("Start-up", "bench_startup.py", [], ["--repeat", "5"]),
    ("llm qualifier", "bench_llm.py", [], ["--domains", "100"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = []
    for title, script, full, quick in BENCHES:
        print(f"\n== {title} ({script})", flush=True)
        started = time.perf_counter()
        code = subprocess.call(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        )
        print(f"   ({time.perf_counter() - started:.0f}s)", flush=True)
        if code:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
