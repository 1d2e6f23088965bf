"""A DNS server on 127.0.0.1 for the simulated internet (dnspython's message codec over a UDP
socket): it answers A records for the names it is given, NS for the zones it serves, and
NXDOMAIN for everything else. Single names can be made to fail (NXDOMAIN, SERVFAIL, slow,
no answer at all), and so can the whole "network" at once (``mode``).

    with NameServer({"acme.company": ["127.40.0.1"]}, zones={"company"}) as ns:
        settings = FetchSettings(dns=ns.address)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

TTL = 300
# What a name (or, through ``mode``, every name) does instead of answering.
NXDOMAIN = "nxdomain"
SERVFAIL = "servfail"
SILENT = "silent"


class NameServer:
    def __init__(
        self,
        records: Mapping[str, Iterable[str]] | None = None,
        *,
        zones: Iterable[str] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.records: dict[str, list[str]] = {
            name.lower(): list(addresses) for name, addresses in (records or {}).items()
        }
        self.zones = {zone.lower().strip(".") for zone in zones}
        #: Per name: NXDOMAIN, SERVFAIL, SILENT, or a delay in seconds before the answer.
        self.behaviour: dict[str, str | float] = {}
        #: The whole network: None (answers), NXDOMAIN, SERVFAIL or SILENT.
        self.mode: str | None = None
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.host = host
        self._thread = threading.Thread(target=self._serve, name="nameserver", daemon=True)
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        """For ``QUALIFY_DNS`` / ``FetchSettings(dns=...)``."""
        return f"{self.host}:{self.port}"

    def start(self) -> NameServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> NameServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, name: str, *addresses: str) -> None:
        with self._lock:
            self.records[name.lower()] = list(addresses)

    def asked(self, name: str) -> int:
        with self._lock:
            return self.queries[name.lower().rstrip(".")]

    def _serve(self) -> None:
        self._sock.settimeout(0.1)  # to see `stop` soon: closing does not wake a recvfrom
        while not self._stopped.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            self._answer(query, peer)

    def _answer(self, query: dns.message.Message, peer: tuple[str, int]) -> None:
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        with self._lock:
            self.queries[name] += 1
            behaviour = self.mode or self.behaviour.get(name)
            addresses = self.records.get(name)
        if behaviour == SILENT:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if behaviour == NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif behaviour == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.zones:
            if question.rdtype == dns.rdatatype.NS:
                response.answer.append(
                    dns.rrset.from_text(question.name, TTL, "IN", "NS", f"ns.{name}.")
                )
        elif addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(
                dns.rrset.from_text_list(question.name, TTL, "IN", "A", addresses)
            )
        wire = response.to_wire()
        if isinstance(behaviour, int | float) and behaviour > 0:
            timer = threading.Timer(behaviour, self._send, (wire, peer))
            timer.daemon = True
            timer.start()
        else:
            self._send(wire, peer)

    def _send(self, wire: bytes, peer: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # stopped meanwhile
            self._sock.sendto(wire, peer)
