"""Named crash points, so tests can kill a process at the exact moment they want to prove safe.

Set ``QUALIFY_CRASH_AT`` to a point's name and the process kills itself with SIGKILL there,
as a power cut or ``kill -9`` would; ``QUALIFY_FREEZE_AT`` stops it there with SIGSTOP, as a
frozen VM or a debugger would, holding whatever it holds. Unset (always, outside tests), a
point costs two lookups.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("QUALIFY_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("QUALIFY_FREEZE_AT") == name:
        os.kill(os.getpid(), signal.SIGSTOP)
