"""The web qualifier's outage probe: does our network answer again?

The worker's outage breaker asks it before pausing and then with backoff while paused
(see qualify/worker/outage.py). It never asks the cache: the point is to hear the network.
"""

from __future__ import annotations

import socket

from qualify.qualifiers.web import codes
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.netguard import parse_ip
from qualify.qualifiers.web.resolver import DnsResolver
from qualify.settings import FetchSettings, parse_servers


def network_answers(
    settings: FetchSettings, resolver: DnsResolver, stage: str, subject: str | None
) -> bool | None:
    """After failures at ``stage`` (dns, connect, tls) for names like ``subject``: the
    canary, when one is set (resolved, and after connection failures connected to); else,
    after DNS failures, whether DNS knows the failed name's top-level zone (a working
    resolver always does, so its "no such name" is then believable). None: cannot tell
    (connection failures without a canary; the worker then tries one job). A yes also
    forgets the "no such name" answers cached meanwhile."""
    answers: bool | None
    if settings.canary:
        answers = _canary_answers(settings, resolver, stage)
    elif stage == codes.DNS and subject:
        answers = resolver.zone_answers(subject.rstrip(".").rsplit(".", 1)[-1])
    else:
        return None
    if answers:
        resolver.forget_failures()
    return answers


def _canary_answers(settings: FetchSettings, resolver: DnsResolver, stage: str) -> bool:
    assert settings.canary is not None
    ((host, port),) = parse_servers(settings.canary, "canary", default_port=443, single=True)
    try:
        addresses = [host] if parse_ip(host) else resolver.resolve_fresh(host)
    except FetchError:
        return False
    if stage == codes.DNS:
        return True
    try:
        socket.create_connection((addresses[0], port), settings.connect_timeout).close()
    except OSError:
        return False
    return True
