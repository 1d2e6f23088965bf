"""Loaded by worker processes the scale-out tests start with this folder on PYTHONPATH:
``QUALIFY_TEST_CLOCK_SKEW=<seconds>`` moves this process's wall clock, as on a host whose
clock is wrong. Leases must not care: they are timed by the database's clock."""

import os
import time

_skew = float(os.environ.get("QUALIFY_TEST_CLOCK_SKEW", "0") or 0)
if _skew:
    _real_time, _real_time_ns = time.time, time.time_ns
    time.time = lambda: _real_time() + _skew
    time.time_ns = lambda: _real_time_ns() + int(_skew * 1e9)
