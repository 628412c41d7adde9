"""Kafka health probe: an ApiVersions request, parsed by hand.

ApiVersions v3 is the one request every broker answers before authentication,
and its tagged field 2 (FinalizedFeatures) carries ``metadata.version``, from
which we derive the cluster's release line ("4.3") without any client library.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ._wire import Conn, Reader, short_hex
from .result import ProbeResult, ProtocolError, run_probe

API_VERSIONS_KEY = 18
UNSUPPORTED_VERSION = 35
MAX_FRAME = 1 << 20
CLIENT_ID = "gibsey-probe"
SOFTWARE_NAME = "gibsey-probe"
SOFTWARE_VERSION = "1.0"

# metadata.version feature level -> MetadataVersion name (Kafka's MetadataVersion enum).
METADATA_VERSIONS: dict[int, str] = {
    1: "3.0-IV1", 2: "3.1-IV0", 3: "3.2-IV0", 4: "3.3-IV0", 5: "3.3-IV1",
    6: "3.3-IV2", 7: "3.3-IV3", 8: "3.4-IV0", 9: "3.5-IV0", 10: "3.5-IV1",
    11: "3.5-IV2", 12: "3.6-IV0", 13: "3.6-IV1", 14: "3.6-IV2", 15: "3.7-IV0",
    16: "3.7-IV1", 17: "3.7-IV2", 18: "3.7-IV3", 19: "3.7-IV4", 20: "3.8-IV0",
    21: "3.9-IV0", 22: "4.0-IV0", 23: "4.0-IV1", 24: "4.0-IV2", 25: "4.0-IV3",
    26: "4.1-IV0", 27: "4.1-IV1", 28: "4.2-IV0", 29: "4.2-IV1", 30: "4.3-IV0",
    31: "4.4-IV0",
}


@dataclass(frozen=True)
class ApiVersionsInfo:
    """The parts of an ApiVersions response a health check cares about."""

    error_code: int
    api_keys: dict[int, tuple[int, int]]
    throttle_ms: int = 0
    finalized_features: dict[str, tuple[int, int]] = field(default_factory=dict)
    supported_features: dict[str, tuple[int, int]] = field(default_factory=dict)


def build_api_versions_request(correlation_id: int, version: int = 3) -> bytes:
    """Size-prefixed ApiVersions request; v3+ uses header v2 and compact strings."""
    client = CLIENT_ID.encode()
    header = struct.pack(">hhih", API_VERSIONS_KEY, version, correlation_id, len(client)) + client
    if version >= 3:
        header += b"\x00"  # header tagged fields
        body = _compact_str(SOFTWARE_NAME) + _compact_str(SOFTWARE_VERSION) + b"\x00"
    else:
        body = b""
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _compact_str(text: str) -> bytes:
    raw = text.encode()
    return _uvarint(len(raw) + 1) + raw


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse_api_versions_response(body: bytes, version: int) -> ApiVersionsInfo:
    """Parse a response body (after the 4-byte correlation id).

    The header is always v0 for ApiVersions, even when the body is flexible.
    A broker that rejects our version answers in v0 layout with error 35, so
    an UNSUPPORTED_VERSION error is decoded as v0 whatever we asked for.
    """
    r = Reader(body, "ApiVersions response")
    error_code = r.i16()
    flexible = version >= 3 and error_code != UNSUPPORTED_VERSION
    api_keys: dict[int, tuple[int, int]] = {}
    count = r.uvarint() - 1 if flexible else r.i32()
    for _ in range(max(count, 0)):
        key, lo, hi = r.i16(), r.i16(), r.i16()
        api_keys[key] = (lo, hi)
        if flexible:
            _skip_tagged_fields(r)
    if error_code == UNSUPPORTED_VERSION:
        return ApiVersionsInfo(error_code, api_keys)
    throttle = r.i32() if version >= 1 else 0
    finalized: dict[str, tuple[int, int]] = {}
    supported: dict[str, tuple[int, int]] = {}
    if flexible:
        for _ in range(r.uvarint()):
            tag, size = r.uvarint(), r.uvarint()
            data = r.take(size)
            if tag == 0:
                supported = _parse_features(data, "SupportedFeatures")
            elif tag == 2:
                finalized = _parse_features(data, "FinalizedFeatures")
    return ApiVersionsInfo(error_code, api_keys, throttle, finalized, supported)


def _skip_tagged_fields(r: Reader) -> None:
    for _ in range(r.uvarint()):
        r.uvarint()
        r.take(r.uvarint())


def _parse_features(data: bytes, what: str) -> dict[str, tuple[int, int]]:
    """Compact array of (name, int16, int16, tagged fields); returns name -> (min, max).

    SupportedFeatures stores (min, max); FinalizedFeatures stores (max, min).
    Both are normalised to (min, max) here.
    """
    r = Reader(data, what)
    out: dict[str, tuple[int, int]] = {}
    for _ in range(r.uvarint() - 1):
        name = r.take(r.uvarint() - 1).decode("utf-8", "replace")
        first, second = r.i16(), r.i16()
        _skip_tagged_fields(r)
        out[name] = (first, second) if what == "SupportedFeatures" else (second, first)
    return out


def release_for_metadata_level(level: int) -> tuple[str, str]:
    """Map a metadata.version level to (release line, MetadataVersion name)."""
    name = METADATA_VERSIONS.get(level)
    if name is not None:
        return name.split("-", 1)[0], name
    top = max(METADATA_VERSIONS)
    if level > top:
        newest = METADATA_VERSIONS[top].split("-", 1)[0]
        return f"newer than {newest} (metadata.version level {level})", f"level {level}"
    return f"unknown (metadata.version level {level})", f"level {level}"


def describe(info: ApiVersionsInfo, version_used: int) -> tuple[str | None, str]:
    """(version, detail) for a successful ApiVersions exchange."""
    mv = info.finalized_features.get("metadata.version")
    if mv is None:
        return None, f"ApiVersions v{version_used} ok, {len(info.api_keys)} APIs; no finalized metadata.version"
    level = mv[1]
    release, mv_name = release_for_metadata_level(level)
    return release, f"metadata.version {mv_name} (level {level}), {len(info.api_keys)} APIs"


def _exchange(conn: Conn, correlation_id: int, version: int) -> ApiVersionsInfo:
    conn.send(build_api_versions_request(correlation_id, version))
    size = struct.unpack(">i", conn.recv_exact(4))[0]
    if size < 4 or size > MAX_FRAME:
        raise ProtocolError(f"implausible Kafka frame size {size}")
    frame = conn.recv_exact(size)
    got_id = struct.unpack(">i", frame[:4])[0]
    if got_id != correlation_id:
        raise ProtocolError(f"correlation id {got_id} != {correlation_id} ({short_hex(frame)})")
    return parse_api_versions_response(frame[4:], version)


def probe_kafka(host: str, port: int, timeout: float = 2.0) -> ProbeResult:
    """Send ApiVersions v3 (falling back to what the broker supports) and report its version."""

    def check() -> tuple[bool, str | None, str]:
        version = 3
        with Conn(host, port, timeout) as conn:
            info = _exchange(conn, 1, version)
        if info.error_code == UNSUPPORTED_VERSION:
            lo_hi = info.api_keys.get(API_VERSIONS_KEY)
            if lo_hi is None:
                raise ProtocolError("UNSUPPORTED_VERSION and no ApiVersions range")
            version = min(3, lo_hi[1])
            # Fresh connection: older brokers may close after rejecting a version.
            with Conn(host, port, timeout) as conn:
                info = _exchange(conn, 2, version)
        if info.error_code != 0:
            return False, None, f"ApiVersions error code {info.error_code}"
        release, detail = describe(info, version)
        return True, release, detail

    return run_probe("kafka", check)
