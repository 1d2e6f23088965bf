"""Start-up: how long `qualify --help`, `status` and `show` take as fresh processes.

Run: python tests/bench/bench_startup.py [--repeat 15] [--compare PATH]

Each command runs ``--repeat`` times against a copy of qualify.db.example, as a user types
it (a new interpreter each time); prints the fastest and the median wall time. Baselines in
the same run: the bare interpreter (``python -c pass``) and importing click alone, the floor
under any click CLI. With ``--compare PATH`` (another checkout of qualify, such as the main
branch), the same commands run with that code first on the path, for a before/after.
``python -X importtime -m qualify status`` shows where the rest goes. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TARGET_MS = 150


def timed(argv: list[str], env: dict[str, str], repeat: int, cwd: str) -> tuple[float, float]:
    """(fastest, median) wall time in milliseconds of ``repeat`` runs of ``argv``, started
    in ``cwd`` (not a checkout: ``python -m`` puts the current directory first on the path)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--compare", help="another qualify checkout to time the same way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "qualify.db")
        shutil.copyfile(ROOT / "qualify.db.example", db)
        python = sys.executable
        commands = {
            "qualify --help": ["-m", "qualify", "--help"],
            "qualify status": ["-m", "qualify", "--db", db, "status"],
            "qualify show 2": ["-m", "qualify", "--db", db, "show", "2"],
            "qualify show 1 DOMAIN": [
                "-m", "qualify", "--db", db, "show", "1", "acme-freight.example.com",
            ],
        }  # fmt: skip
        trees = [("this checkout", ROOT)]
        if args.compare:
            trees.insert(0, ("compared", Path(args.compare).resolve()))
        env = {**os.environ, "COLUMNS": "80"}
        print(f"{'what':<34} {'fastest':>8} {'median':>8}   (target < {TARGET_MS} ms)")
        for label, argv in (
            ("python -c pass", ["-c", "pass"]),
            ("python -c 'import click'", ["-c", "import click"]),
        ):
            fastest, median = timed([python, *argv], env, args.repeat, tmp)
            print(f"{label:<34} {fastest:>6.0f}ms {median:>6.0f}ms")
        for tree_label, tree in trees:
            tree_env = {**env, "PYTHONPATH": str(tree)}
            for label, argv in commands.items():
                fastest, median = timed([python, *argv], tree_env, args.repeat, tmp)
                print(f"{label + ' (' + tree_label + ')':<34} {fastest:>6.0f}ms {median:>6.0f}ms")


if __name__ == "__main__":
    main()
