"""Process-wide state shared by every worker thread: settings and the one Fetcher.

Created lazily on first use (the environment is read then), rebuilt by ``configure``.
"""

from __future__ import annotations

import threading
from typing import Any

from qualify.qualifiers.web import config
from qualify.qualifiers.web.fetch import Fetcher

_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_fetcher: Fetcher | None = None


def configure(**overrides: Any) -> config.Settings:
    """Override settings (None leaves a setting alone); takes effect for the next fetch.

    Meant to be called before qualifying starts (the CLI, tests); a Fetcher in use by
    other threads is closed.
    """
    global _fetcher
    with _lock:
        merged = {**_overrides, **{k: v for k, v in overrides.items() if v is not None}}
        settings = config.build(merged)  # validates before anything changes
        _overrides.clear()
        _overrides.update(merged)
        old, _fetcher = _fetcher, None
    if old is not None:
        old.close()
    return settings


def reset() -> None:
    """Forget every override; the environment is read again on next use."""
    global _fetcher
    with _lock:
        _overrides.clear()
        old, _fetcher = _fetcher, None
    if old is not None:
        old.close()


def fetcher() -> Fetcher:
    global _fetcher
    current = _fetcher
    if current is None:
        with _lock:
            if _fetcher is None:
                _fetcher = Fetcher(config.build(dict(_overrides)))
            current = _fetcher
    return current


def settings() -> config.Settings:
    return fetcher().settings
