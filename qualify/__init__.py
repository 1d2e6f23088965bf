"""qualify: qualify company web domains against an Ideal Customer Profile, durably."""

from __future__ import annotations

__version__ = "0.1.0"
