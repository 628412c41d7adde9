"""Cassandra health probe: native protocol v4 STARTUP, then one QUERY.

READY proves the CQL transport is up; ``SELECT release_version FROM
system.local`` proves the node serves reads and tells us its version.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ._wire import Conn, Reader, short_hex
from .result import ProbeResult, ProtocolError, run_probe

PROTOCOL_VERSION = 4
MIN_PROTOCOL_VERSION = 3
HEADER = struct.Struct(">BBhBi")  # version, flags, stream, opcode, body length
MAX_BODY = 16 << 20

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_QUERY, OP_RESULT = 0x07, 0x08
FLAG_TRACING, FLAG_CUSTOM_PAYLOAD, FLAG_WARNING = 0x02, 0x04, 0x08
CONSISTENCY_ONE = 0x0001
RESULT_ROWS = 0x0002
ERR_PROTOCOL = 0x000A
RELEASE_QUERY = "SELECT release_version FROM system.local"

OPCODE_NAMES = {
    0x00: "ERROR", 0x02: "READY", 0x03: "AUTHENTICATE", 0x06: "SUPPORTED",
    0x08: "RESULT", 0x0C: "EVENT", 0x0E: "AUTH_CHALLENGE", 0x10: "AUTH_SUCCESS",
}


@dataclass(frozen=True)
class Frame:
    """One response frame: header fields plus the body with flag prefixes removed."""

    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes


class CqlServerError(ProtocolError):
    """An ERROR frame: the server is speaking CQL but refused the request."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"server error 0x{code:04X}: {message}")
        self.code = code
        self.message = message


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def build_frame(opcode: int, body: bytes, stream: int = 0, version: int = PROTOCOL_VERSION) -> bytes:
    """A request frame (direction bit clear)."""
    return HEADER.pack(version & 0x7F, 0, stream, opcode, len(body)) + body


def build_startup(version: int = PROTOCOL_VERSION) -> bytes:
    """STARTUP with the one mandatory option, CQL_VERSION."""
    body = struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0")
    return build_frame(OP_STARTUP, body, stream=0, version=version)


def build_query(query: str, stream: int = 1, version: int = PROTOCOL_VERSION) -> bytes:
    """QUERY at consistency ONE with no flags (v3/v4 flags are one byte)."""
    raw = query.encode()
    body = struct.pack(">i", len(raw)) + raw + struct.pack(">HB", CONSISTENCY_ONE, 0)
    return build_frame(OP_QUERY, body, stream=stream, version=version)


def parse_header(data: bytes) -> tuple[int, int, int, int, int]:
    """(version, flags, stream, opcode, length); insists on a response frame."""
    if len(data) != HEADER.size:
        raise ProtocolError(f"short CQL header ({len(data)} bytes)")
    version, flags, stream, opcode, length = HEADER.unpack(data)
    if not version & 0x80:
        raise ProtocolError(f"not a CQL response frame: {short_hex(data)}")
    if length < 0 or length > MAX_BODY:
        raise ProtocolError(f"implausible CQL body length {length}")
    return version & 0x7F, flags, stream, opcode, length


def strip_flag_prefixes(flags: int, body: bytes) -> bytes:
    """Drop tracing id, warnings and custom payload that precede the real body."""
    r = Reader(body, "CQL frame body")
    if flags & FLAG_TRACING:
        r.take(16)
    if flags & FLAG_WARNING:
        for _ in range(r.u16()):
            r.take(r.u16())
    if flags & FLAG_CUSTOM_PAYLOAD:
        for _ in range(r.u16()):
            r.take(r.u16())
            size = r.i32()
            if size > 0:
                r.take(size)
    return body[r.pos :]


def parse_error(body: bytes) -> CqlServerError:
    r = Reader(body, "CQL ERROR")
    code = r.i32()
    message = r.take(r.u16()).decode("utf-8", "replace")
    return CqlServerError(code, message)


def _skip_type(r: Reader) -> None:
    """Skip a column type [option], recursing into collections, UDTs and tuples."""
    type_id = r.u16()
    if type_id == 0x0000:  # custom: class name
        r.take(r.u16())
    elif type_id in (0x0020, 0x0022):  # list, set
        _skip_type(r)
    elif type_id == 0x0021:  # map
        _skip_type(r)
        _skip_type(r)
    elif type_id == 0x0030:  # UDT: keyspace, name, fields
        r.take(r.u16())
        r.take(r.u16())
        for _ in range(r.u16()):
            r.take(r.u16())
            _skip_type(r)
    elif type_id == 0x0031:  # tuple
        for _ in range(r.u16()):
            _skip_type(r)


def parse_rows_first_text(body: bytes) -> str | None:
    """First column of the first row of a RESULT/Rows body, decoded as UTF-8."""
    r = Reader(body, "CQL RESULT")
    kind = r.i32()
    if kind != RESULT_ROWS:
        raise ProtocolError(f"RESULT kind {kind}, expected Rows (2)")
    flags, columns = r.i32(), r.i32()
    if flags & 0x0002:  # has_more_pages: paging state
        size = r.i32()
        if size > 0:
            r.take(size)
    if not flags & 0x0004:  # metadata present
        global_spec = bool(flags & 0x0001)
        if global_spec:
            r.take(r.u16())
            r.take(r.u16())
        for _ in range(columns):
            if not global_spec:
                r.take(r.u16())
                r.take(r.u16())
            r.take(r.u16())  # column name
            _skip_type(r)
    if r.i32() < 1 or columns < 1:
        return None
    size = r.i32()
    if size < 0:
        return None
    return r.take(size).decode("utf-8", "replace")


def read_frame(conn: Conn) -> Frame:
    version, flags, stream, opcode, length = parse_header(conn.recv_exact(HEADER.size))
    body = conn.recv_exact(length) if length else b""
    if opcode != OP_ERROR:
        body = strip_flag_prefixes(flags, body)
    return Frame(version, flags, stream, opcode, body)


def _expect(frame: Frame, opcode: int) -> None:
    if frame.opcode == OP_ERROR:
        raise parse_error(frame.body)
    if frame.opcode != opcode:
        got = OPCODE_NAMES.get(frame.opcode, f"0x{frame.opcode:02X}")
        raise ProtocolError(f"got {got}, expected {OPCODE_NAMES.get(opcode, opcode)}")


def _session(host: str, port: int, timeout: float, version: int) -> tuple[bool, str | None, str]:
    with Conn(host, port, timeout) as conn:
        conn.send(build_startup(version))
        frame = read_frame(conn)
        if frame.opcode == OP_AUTHENTICATE:
            r = Reader(frame.body, "CQL AUTHENTICATE")
            authenticator = r.take(r.u16()).decode("utf-8", "replace")
            return True, None, f"CQL v{version} up; authentication required ({authenticator})"
        _expect(frame, OP_READY)
        conn.send(build_query(RELEASE_QUERY, stream=1, version=version))
        frame = read_frame(conn)
        _expect(frame, OP_RESULT)
        release = parse_rows_first_text(frame.body)
        if release is None:
            return False, None, "system.local returned no release_version"
        return True, release, f"CQL protocol v{version}, release_version {release}"


def probe_cassandra(host: str, port: int, timeout: float = 2.0) -> ProbeResult:
    """STARTUP + SELECT release_version; retries once at the server's lower protocol version."""

    def check() -> tuple[bool, str | None, str]:
        try:
            return _session(host, port, timeout, PROTOCOL_VERSION)
        except CqlServerError as exc:
            if exc.code != ERR_PROTOCOL or "version" not in exc.message.lower():
                raise
            # Older servers reject v4 with a protocol error; v3 carries the same messages.
            return _session(host, port, timeout, MIN_PROTOCOL_VERSION)

    return run_probe("cassandra", check)
