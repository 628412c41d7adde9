"""RabbitMQ health probe: the AMQP 0-9-1 protocol header and Connection.Start.

The broker's first frame after our header is Connection.Start, whose
server-properties table names the product and version. We close right after
reading it; the broker logs a harmless "closed before handshake" line.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._wire import Conn, Reader, short_hex
from .result import ProbeResult, ProtocolError, run_probe

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD = 1
FRAME_END = 0xCE
CONNECTION_START = (10, 10)
MAX_FRAME = 1 << 20


@dataclass(frozen=True)
class ConnectionStart:
    """Decoded Connection.Start arguments."""

    version_major: int
    version_minor: int
    server_properties: dict[str, Any]
    mechanisms: str
    locales: str


def parse_field_table(data: bytes) -> dict[str, Any]:
    """Decode an AMQP field table body (without its 4-byte length prefix)."""
    r = Reader(data, "AMQP field table")
    out: dict[str, Any] = {}
    while r.remaining:
        name = r.take(r.u8()).decode("utf-8", "replace")
        out[name] = _field_value(r)
    return out


def _field_value(r: Reader) -> Any:
    """One typed value, using RabbitMQ's type letters (its 0-9-1 errata)."""
    kind = chr(r.u8())
    if kind == "t":
        return r.u8() != 0
    if kind == "b":
        return r.i8()
    if kind == "B":
        return r.u8()
    if kind == "s":
        return r.i16()
    if kind == "u":
        return r.u16()
    if kind == "I":
        return r.i32()
    if kind == "i":
        return r.u32()
    if kind == "l":
        return r.i64()
    if kind == "f":
        return r.f32()
    if kind == "d":
        return r.f64()
    if kind == "D":
        scale, value = r.u8(), r.i32()
        return Decimal(value).scaleb(-scale)
    if kind == "S":
        return r.take(r.u32()).decode("utf-8", "replace")
    if kind == "x":
        return r.take(r.u32())
    if kind == "T":
        return r.u64()
    if kind == "F":
        return parse_field_table(r.take(r.u32()))
    if kind == "A":
        inner = Reader(r.take(r.u32()), "AMQP field array")
        items: list[Any] = []
        while inner.remaining:
            items.append(_field_value(inner))
        return items
    if kind == "V":
        return None
    raise ProtocolError(f"unknown AMQP field type {kind!r}")


def parse_connection_start(payload: bytes) -> ConnectionStart:
    """Decode a method-frame payload that must be Connection.Start."""
    r = Reader(payload, "Connection.Start")
    method = (r.u16(), r.u16())
    if method != CONNECTION_START:
        raise ProtocolError(f"method {method[0]}.{method[1]}, expected Connection.Start (10.10)")
    major, minor = r.u8(), r.u8()
    props = parse_field_table(r.take(r.u32()))
    mechanisms = r.take(r.u32()).decode("utf-8", "replace")
    locales = r.take(r.u32()).decode("utf-8", "replace")
    return ConnectionStart(major, minor, props, mechanisms, locales)


def read_connection_start(conn: Conn) -> ConnectionStart:
    """Read one frame; a protocol header instead means the broker wants another version."""
    head = conn.recv_exact(7)
    if head[:4] == b"AMQP":
        wanted = head[4:] + conn.recv_exact(1)
        raise ProtocolError(f"broker rejected AMQP 0-9-1 and proposed {short_hex(wanted)}")
    kind, channel, size = struct.unpack(">BHI", head)
    if kind != FRAME_METHOD or channel != 0:
        raise ProtocolError(f"frame type {kind} on channel {channel}, expected a method frame on 0")
    if size > MAX_FRAME:
        raise ProtocolError(f"implausible AMQP frame size {size}")
    payload = conn.recv_exact(size)
    end = conn.recv_exact(1)[0]
    if end != FRAME_END:
        raise ProtocolError(f"frame end 0x{end:02X}, expected 0xCE")
    return parse_connection_start(payload)


def probe_rabbitmq(host: str, port: int, timeout: float = 2.0) -> ProbeResult:
    """Read Connection.Start and report the broker's product and version."""

    def check() -> tuple[bool, str | None, str]:
        with Conn(host, port, timeout) as conn:
            conn.send(PROTOCOL_HEADER)
            start = read_connection_start(conn)
        props = start.server_properties
        version = props.get("version")
        product = props.get("product", "AMQP broker")
        detail = (
            f"{product}, AMQP {start.version_major}-{start.version_minor}, "
            f"mechanisms {start.mechanisms}"
        )
        return True, str(version) if version is not None else None, detail

    return run_probe("rabbitmq", check)
