"""Blocking TCP helpers with one overall deadline, and a bounds-checked byte reader.

Every probe is "connect, write a request, read a reply"; the deadline makes
``timeout`` bound the whole exchange rather than each recv separately.
"""
from __future__ import annotations

import socket
import struct
import time

from .result import ProtocolError


class Conn:
    """A connected socket whose every operation respects a shared deadline."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(left)

    def send(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes or raise ProtocolError if the peer hangs up first."""
        chunks: list[bytes] = []
        got = 0
        while got < n:
            self._arm()
            chunk = self._sock.recv(min(n - got, 65536))
            if not chunk:
                raise ProtocolError(
                    f"connection closed by server after {got} of {n} bytes"
                )
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


class Reader:
    """Sequential big-endian decoder; running off the end is a ProtocolError."""

    def __init__(self, data: bytes, what: str = "reply") -> None:
        self.data = data
        self.pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(
                f"truncated {self.what}: wanted {n} bytes at offset {self.pos}, "
                f"have {len(self.data) - self.pos}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        value: int = struct.unpack(fmt, self.take(size))[0]
        return value

    def i8(self) -> int:
        return self._unpack(">b")

    def u8(self) -> int:
        return self._unpack(">B")

    def i16(self) -> int:
        return self._unpack(">h")

    def u16(self) -> int:
        return self._unpack(">H")

    def i32(self) -> int:
        return self._unpack(">i")

    def u32(self) -> int:
        return self._unpack(">I")

    def i64(self) -> int:
        return self._unpack(">q")

    def u64(self) -> int:
        return self._unpack(">Q")

    def f32(self) -> float:
        value: float = struct.unpack(">f", self.take(4))[0]
        return value

    def f64(self) -> float:
        value: float = struct.unpack(">d", self.take(8))[0]
        return value

    def uvarint(self) -> int:
        """Unsigned LEB128 varint, as Kafka's flexible versions use."""
        shift = 0
        value = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 35:
                raise ProtocolError(f"varint too long in {self.what}")


def short_hex(data: bytes, limit: int = 16) -> str:
    """First bytes of an unexpected reply, for error details."""
    head = data[:limit].hex(" ")
    return head + (" ..." if len(data) > limit else "")
