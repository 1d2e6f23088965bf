"""The ``qualify`` command: each command parses, calls one library function, renders.

No logic lives here: it is all in the library (``qualify.api`` and below). The rich tables
(``tables``, ``live``) and the JSON documents (``documents``) are the CLI's own.
"""

from __future__ import annotations

# Importing the command modules registers their commands on the group.
from qualify.cli import demo, exporting, repair, run, status, tuning, ui, work
from qualify.cli.base import cli, main

__all__ = [
    "cli",
    "demo",
    "exporting",
    "main",
    "repair",
    "run",
    "status",
    "tuning",
    "ui",
    "work",
]
