"""Run a command in a real pseudo-terminal, as a person would, and read what it draws.

The child gets the pty as its controlling terminal (``pty.fork``), so rich sees a terminal
and draws live displays, and Ctrl-C written to the pty is turned into SIGINT by the kernel's
line discipline, exactly as when a person presses it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Sequence

# CSI sequences (colours, cursor moves, erase), OSC sequences, and lone escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def plain(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI.sub("", text).replace("\r", "")


class Terminal:
    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        cwd: str | None = None,
        columns: int = 160,
        rows: int = 50,
    ) -> None:
        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
        env.pop("NO_COLOR", None)
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once, nothing else
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.raw = b""
        self.returncode: int | None = None

    @property
    def text(self) -> str:
        return plain(self.raw.decode("utf-8", "replace"))

    def _read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the child closed the pty."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child has exited and the pty is closed
            return False
        if not chunk:
            return False
        self.raw += chunk
        return True

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the screen output matches ``pattern`` (a regex); fail with what it
        showed instead."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.text)
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.2)):
                found = regex.search(self.text)
                if found:
                    return found
                raise AssertionError(f"{pattern!r} never showed; the terminal had:\n{self.text}")

    def last_frame(self, start: str, end: str) -> str:
        """What a live display last drew in full: from the last ``start`` (the line every
        frame begins with) to the ``end`` after it; "" while no frame is complete."""
        text = self.text
        begin = text.rfind(start)
        while begin >= 0:
            stop = text.find(end, begin)
            if stop >= 0:
                return text[begin : stop + len(end)]
            begin = text.rfind(start, 0, begin)  # the newest frame is still being drawn
        return ""

    def expect_frame(self, start: str, end: str, *patterns: str, timeout: float = 10.0) -> str:
        """Wait until the last complete frame matches every pattern; return that frame."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.last_frame(start, end)
            if frame and all(re.search(p, frame, re.MULTILINE) for p in patterns):
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.2)):
                missing = [p for p in patterns if not re.search(p, frame, re.MULTILINE)]
                raise AssertionError(f"the last frame never showed {missing}:\n{frame}")

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait(self, timeout: float = 10.0) -> int:
        """Read until the child exits; return its exit code (128+N for a signal)."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                if self.returncode < 0:
                    self.returncode = 128 - self.returncode
                break
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running after {timeout}s:\n{self.text}")
            self._read(0.1)
        while self._read(0.05):  # what it printed last
            if not select.select([self.fd], [], [], 0)[0]:
                break
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.returncode = -9

    def close(self) -> None:
        self.kill()
        os.close(self.fd)


def qualify_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "qualify", *args]
