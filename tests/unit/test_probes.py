"""Unit tests for shared.probes: byte-level parsing and failure reporting.

The recorded replies below were captured from the servers localstack/up runs
(Kafka 4.3.1, Cassandra 5.0.9, RabbitMQ 3.10.8); tiny in-test socket servers
replay them so the whole probe path runs without any real server.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.probes import (  # noqa: E402
    ProbeResult,
    probe_cassandra,
    probe_http,
    probe_kafka,
    probe_ollama,
    probe_rabbitmq,
)
from shared.probes import amqp, cql, kafka  # noqa: E402
from shared.probes.result import ProtocolError  # noqa: E402

# ApiVersions v3 response from Kafka 4.3.1 (size prefix + correlation id 7 + body).
KAFKA_4_3_API_VERSIONS = base64.b64decode(
    "AAAC0AAAAAcAAEwAAAAAAA0AAAEABAASAAACAAEACwAAAwAAAA0AAAgAAgAKAAAJAAEACgAACgAAAAYAAAsAAAAJ"
    "AAAMAAAABAAADQAAAAUAAA4AAAAFAAAPAAAABgAAEAAAAAUAABEAAAABAAASAAAABAAAEwACAAcAABQAAQAGAAAV"
    "AAAAAgAAFgAAAAUAABcAAgAEAAAYAAAABQAAGQAAAAQAABoAAAAFAAAbAAEAAgAAHAAAAAUAAB0AAQADAAAeAAEA"
    "AwAAHwABAAMAACAAAQAEAAAhAAAAAgAAIgABAAIAACMAAQAFAAAkAAAAAgAAJQAAAAMAACYAAQADAAAnAAEAAgAA"
    "KAABAAIAACkAAQADAAAqAAAAAgAAKwAAAAIAACwAAAABAAAtAAAAAQAALgAAAAAAAC8AAAAAAAAwAAAAAQAAMQAA"
    "AAEAADIAAAAAAAAzAAAAAAAANwAAAAIAADkAAAACAAA8AAAAAgAAPQAAAAAAAEAAAAAAAABBAAAAAAAAQgAAAAIA"
    "AEQAAAABAABFAAAAAQAASgAAAAEAAEsAAAAAAABMAAEAAQAATQABAAEAAE4AAQACAABPAAEAAgAAUAAAAAEAAFEA"
    "AAAAAABTAAAAAAAAVAAAAAAAAFUAAAABAABWAAAAAAAAVwAAAAEAAFgAAAAAAABZAAAAAAAAWgAAAAEAAFsAAAAA"
    "AABcAAAAAAAAAAAAAwAXAhFtZXRhZGF0YS52ZXJzaW9uAAcAHgABCAAAAAAAAAGqApEBBw5ncm91cC52ZXJzaW9u"
    "AAEAAQAQc3RyZWFtcy52ZXJzaW9uAAEAAQAUdHJhbnNhY3Rpb24udmVyc2lvbgACAAIAIWVsaWdpYmxlLmxlYWRl"
    "ci5yZXBsaWNhcy52ZXJzaW9uAAEAAQAOc2hhcmUudmVyc2lvbgABAAEAEW1ldGFkYXRhLnZlcnNpb24AHgAeAA=="
)
# Kafka 4.3.1's answer to ApiVersions v9: UNSUPPORTED_VERSION (35), v0 layout, ApiVersions 0..4.
KAFKA_UNSUPPORTED = bytes.fromhex("0000001000000009002300000001001200000004")
# Cassandra 5.0.9: READY to STARTUP, and RESULT/Rows for SELECT release_version FROM system.local.
CQL_READY = bytes.fromhex("840000000200000000")
CQL_ROWS = bytes.fromhex(
    "84000001080000003b000000020000000100000001000673797374656d00056c6f63616c000f72656c65"
    "6173655f76657273696f6e000d0000000100000005352e302e39"
)
# RabbitMQ 3.10.8 Connection.Start method frame.
AMQP_START = base64.b64decode(
    "AQAAAAAB8AAKAAoACQAAAcsMY2FwYWJpbGl0aWVzRgAAAMcScHVibGlzaGVyX2NvbmZpcm1zdAEaZXhjaGFuZ2Vf"
    "ZXhjaGFuZ2VfYmluZGluZ3N0AQpiYXNpYy5uYWNrdAEWY29uc3VtZXJfY2FuY2VsX25vdGlmeXQBEmNvbm5lY3Rp"
    "b24uYmxvY2tlZHQBE2NvbnN1bWVyX3ByaW9yaXRpZXN0ARxhdXRoZW50aWNhdGlvbl9mYWlsdXJlX2Nsb3NldAEQ"
    "cGVyX2NvbnN1bWVyX3Fvc3QBD2RpcmVjdF9yZXBseV90b3QBDGNsdXN0ZXJfbmFtZVMAAAAJZ2lic2V5QHZtCWNv"
    "cHlyaWdodFMAAAA3Q29weXJpZ2h0IChjKSAyMDA3LTIwMjIgVk13YXJlLCBJbmMuIG9yIGl0cyBhZmZpbGlhdGVz"
    "LgtpbmZvcm1hdGlvblMAAAA5TGljZW5zZWQgdW5kZXIgdGhlIE1QTCAyLjAuIFdlYnNpdGU6IGh0dHBzOi8vcmFi"
    "Yml0bXEuY29tCHBsYXRmb3JtUwAAABFFcmxhbmcvT1RQIDI1LjIuMwdwcm9kdWN0UwAAAAhSYWJiaXRNUQd2ZXJz"
    "aW9uUwAAAAYzLjEwLjgAAAAOUExBSU4gQU1RUExBSU4AAAAFZW5fVVPO"
)


# --- helpers -------------------------------------------------------------------------

def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket, int], None]], int]]:
    """Start a one-thread TCP server; the handler gets (connection, connection index)."""
    servers: list[socket.socket] = []

    def start(handler: Callable[[socket.socket, int], None]) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        servers.append(listener)

        def loop() -> None:
            index = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    try:
                        handler(conn, index)
                    except OSError:
                        pass
                index += 1

        threading.Thread(target=loop, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in servers:
        listener.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_kafka_request(conn: socket.socket) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of one size-prefixed request."""
    size = struct.unpack(">i", recv_exact(conn, 4))[0]
    body = recv_exact(conn, size)
    return struct.unpack(">hhi", body[:8])


def with_correlation(frame: bytes, correlation_id: int) -> bytes:
    return frame[:4] + struct.pack(">i", correlation_id) + frame[8:]


# --- ProbeResult ---------------------------------------------------------------------

def test_probe_result_is_frozen_and_serialisable() -> None:
    result = ProbeResult("kafka", True, 1.234, "4.3", "ok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]
    assert result.as_dict() == {"name": "kafka", "ok": True, "latency_ms": 1.2, "version": "4.3", "detail": "ok"}


# --- Kafka ---------------------------------------------------------------------------

def test_api_versions_v3_request_layout() -> None:
    frame = kafka.build_api_versions_request(correlation_id=42, version=3)
    size = struct.unpack(">i", frame[:4])[0]
    assert size == len(frame) - 4
    api_key, version, correlation, client_len = struct.unpack(">hhih", frame[4:14])
    assert (api_key, version, correlation) == (18, 3, 42)
    client_end = 14 + client_len
    assert frame[14:client_end] == b"gibsey-probe"
    assert frame[client_end] == 0  # header tagged fields
    body = frame[client_end + 1 :]
    assert body[0] == len(b"gibsey-probe") + 1  # compact string length is N+1
    assert body[-1] == 0  # body tagged fields


def test_api_versions_v0_request_has_no_body() -> None:
    frame = kafka.build_api_versions_request(correlation_id=1, version=0)
    assert len(frame) == 4 + 10 + len(b"gibsey-probe")


def test_parse_recorded_kafka_4_3_response() -> None:
    info = kafka.parse_api_versions_response(KAFKA_4_3_API_VERSIONS[8:], version=3)
    assert info.error_code == 0
    assert info.api_keys[18] == (0, 4)  # ApiVersions itself
    assert info.api_keys[0][0] == 0  # Produce
    assert info.finalized_features["metadata.version"] == (30, 30)
    assert info.supported_features["metadata.version"] == (7, 30)
    assert kafka.describe(info, 3)[0] == "4.3"
    assert "4.3-IV0" in kafka.describe(info, 3)[1]


def test_parse_unsupported_version_reply_as_v0() -> None:
    info = kafka.parse_api_versions_response(KAFKA_UNSUPPORTED[8:], version=9)
    assert info.error_code == kafka.UNSUPPORTED_VERSION
    assert info.api_keys == {18: (0, 4)}


@pytest.mark.parametrize(
    ("level", "release"),
    [(7, "3.3"), (21, "3.9"), (22, "4.0"), (30, "4.3"), (31, "4.4")],
)
def test_metadata_version_table(level: int, release: str) -> None:
    assert kafka.release_for_metadata_level(level)[0] == release


def test_metadata_version_newer_than_table() -> None:
    assert kafka.release_for_metadata_level(40)[0] == "newer than 4.4 (metadata.version level 40)"


def test_truncated_kafka_response_is_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="truncated"):
        kafka.parse_api_versions_response(KAFKA_4_3_API_VERSIONS[8:40], version=3)


def test_probe_kafka_against_recorded_reply(serve) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        _, version, correlation = read_kafka_request(conn)
        assert version == 3
        conn.sendall(with_correlation(KAFKA_4_3_API_VERSIONS, correlation))

    result = probe_kafka("127.0.0.1", serve(handler))
    assert result.ok, result
    assert result.version == "4.3"
    assert "metadata.version 4.3-IV0" in result.detail
    assert result.latency_ms > 0


def test_probe_kafka_degrades_to_older_api_versions(serve) -> None:
    """An old broker rejects v3 (answering in v0) and then gets v2, which has no features."""

    def handler(conn: socket.socket, index: int) -> None:
        _, version, correlation = read_kafka_request(conn)
        if version == 3:
            body = struct.pack(">hi", 35, 1) + struct.pack(">hhh", 18, 0, 2)
        else:
            assert version == 2
            body = struct.pack(">hi", 0, 2) + struct.pack(">hhhhhh", 0, 0, 8, 18, 0, 2) + struct.pack(">i", 0)
        conn.sendall(struct.pack(">ii", len(body) + 4, correlation) + body)

    result = probe_kafka("127.0.0.1", serve(handler))
    assert result.ok, result
    assert result.version is None
    assert "ApiVersions v2" in result.detail


def test_probe_kafka_wrong_correlation_id(serve) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_kafka_request(conn)
        conn.sendall(with_correlation(KAFKA_4_3_API_VERSIONS, 999))

    result = probe_kafka("127.0.0.1", serve(handler))
    assert not result.ok
    assert result.detail.startswith("unexpected reply: correlation id 999")


# --- Cassandra (CQL) -----------------------------------------------------------------

def test_startup_frame_layout() -> None:
    frame = cql.build_startup()
    version, flags, stream, opcode, length = struct.unpack(">BBhBi", frame[:9])
    assert (version, flags, stream, opcode) == (4, 0, 0, cql.OP_STARTUP)
    assert length == len(frame) - 9
    assert frame[9:11] == b"\x00\x01"  # one map entry
    assert b"CQL_VERSION" in frame and b"3.0.0" in frame


def test_query_frame_layout() -> None:
    frame = cql.build_query("SELECT 1", stream=5)
    _, _, stream, opcode, length = struct.unpack(">BBhBi", frame[:9])
    assert (stream, opcode) == (5, cql.OP_QUERY)
    body = frame[9:]
    assert struct.unpack(">i", body[:4])[0] == len("SELECT 1")
    assert body[4:12] == b"SELECT 1"
    assert body[12:] == b"\x00\x01\x00"  # consistency ONE, no flags


def test_parse_recorded_ready_and_rows() -> None:
    assert cql.parse_header(CQL_READY[:9]) == (4, 0, 0, cql.OP_READY, 0)
    version, flags, stream, opcode, length = cql.parse_header(CQL_ROWS[:9])
    assert (opcode, stream, length) == (cql.OP_RESULT, 1, len(CQL_ROWS) - 9)
    assert cql.parse_rows_first_text(CQL_ROWS[9:]) == "5.0.9"


def test_request_frame_is_not_a_response() -> None:
    with pytest.raises(ProtocolError, match="not a CQL response"):
        cql.parse_header(cql.build_startup()[:9])


def test_warning_flag_prefix_is_stripped() -> None:
    warnings = b"\x00\x01" + b"\x00\x04" + b"warn"
    assert cql.strip_flag_prefixes(cql.FLAG_WARNING, warnings + CQL_ROWS[9:]) == CQL_ROWS[9:]


def test_rows_with_no_rows_gives_none() -> None:
    body = bytearray(CQL_ROWS[9:])
    cut = len(body) - 4 - 5 - 4  # rows_count, [bytes] length, "5.0.9"
    body = bytes(body[:cut]) + struct.pack(">i", 0)
    assert cql.parse_rows_first_text(body) is None


def test_error_frame_is_parsed() -> None:
    message = b"Invalid or unsupported protocol version (9)"
    error = cql.parse_error(struct.pack(">iH", 0x000A, len(message)) + message)
    assert error.code == 0x000A
    assert "unsupported protocol version" in str(error)


def _serve_cql(replies: list[bytes]) -> Callable[[socket.socket, int], None]:
    def handler(conn: socket.socket, _: int) -> None:
        for reply in replies:
            header = recv_exact(conn, 9)
            recv_exact(conn, struct.unpack(">i", header[5:])[0])
            conn.sendall(reply)

    return handler


def test_probe_cassandra_against_recorded_replies(serve) -> None:
    result = probe_cassandra("127.0.0.1", serve(_serve_cql([CQL_READY, CQL_ROWS])))
    assert result.ok, result
    assert result.version == "5.0.9"


def test_probe_cassandra_reports_server_error(serve) -> None:
    message = b"Cannot achieve consistency level ONE"
    error = cql.build_frame(cql.OP_ERROR, struct.pack(">iH", 0x1000, len(message)) + message, stream=1)
    error = bytes([0x84]) + error[1:]
    result = probe_cassandra("127.0.0.1", serve(_serve_cql([CQL_READY, error])))
    assert not result.ok
    assert "server error 0x1000: Cannot achieve consistency level ONE" in result.detail


# --- RabbitMQ (AMQP 0-9-1) -----------------------------------------------------------

def test_parse_recorded_connection_start() -> None:
    assert AMQP_START[0] == 1 and AMQP_START[-1] == 0xCE
    size = struct.unpack(">I", AMQP_START[3:7])[0]
    start = amqp.parse_connection_start(AMQP_START[7 : 7 + size])
    assert (start.version_major, start.version_minor) == (0, 9)
    props = start.server_properties
    assert props["product"] == "RabbitMQ"
    assert props["version"] == "3.10.8"
    assert props["capabilities"]["publisher_confirms"] is True
    assert set(start.mechanisms.split()) == {"PLAIN", "AMQPLAIN"}
    assert start.locales == "en_US"


def test_field_table_value_types() -> None:
    def entry(name: str, kind: str, payload: bytes) -> bytes:
        return bytes([len(name)]) + name.encode() + kind.encode() + payload

    nested = entry("n", "I", struct.pack(">i", -5))
    array = b"b\xff" + b"S" + struct.pack(">I", 2) + b"hi"
    table = b"".join([
        entry("t", "t", b"\x01"), entry("b", "b", b"\xfe"), entry("B", "B", b"\xfe"),
        entry("s", "s", struct.pack(">h", -2)), entry("u", "u", struct.pack(">H", 65000)),
        entry("I", "I", struct.pack(">i", -70000)), entry("i", "i", struct.pack(">I", 4000000000)),
        entry("l", "l", struct.pack(">q", -(1 << 40))), entry("f", "f", struct.pack(">f", 1.5)),
        entry("d", "d", struct.pack(">d", 2.25)), entry("D", "D", b"\x02" + struct.pack(">i", 12345)),
        entry("S", "S", struct.pack(">I", 3) + b"abc"), entry("x", "x", struct.pack(">I", 2) + b"\x00\x01"),
        entry("T", "T", struct.pack(">Q", 1700000000)), entry("V", "V", b""),
        entry("F", "F", struct.pack(">I", len(nested)) + nested),
        entry("A", "A", struct.pack(">I", len(array)) + array),
    ])
    parsed = amqp.parse_field_table(table)
    assert parsed["t"] is True and parsed["b"] == -2 and parsed["B"] == 254
    assert parsed["s"] == -2 and parsed["u"] == 65000
    assert parsed["I"] == -70000 and parsed["i"] == 4000000000 and parsed["l"] == -(1 << 40)
    assert parsed["f"] == 1.5 and parsed["d"] == 2.25 and str(parsed["D"]) == "123.45"
    assert parsed["S"] == "abc" and parsed["x"] == b"\x00\x01" and parsed["T"] == 1700000000
    assert parsed["V"] is None and parsed["F"] == {"n": -5} and parsed["A"] == [-1, "hi"]


def test_unknown_field_type_is_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown AMQP field type"):
        amqp.parse_field_table(b"\x01kZ")


def _serve_bytes(reply: bytes, expect: bytes = amqp.PROTOCOL_HEADER) -> Callable[[socket.socket, int], None]:
    def handler(conn: socket.socket, _: int) -> None:
        assert recv_exact(conn, len(expect)) == expect
        conn.sendall(reply)

    return handler


def test_probe_rabbitmq_against_recorded_start(serve) -> None:
    result = probe_rabbitmq("127.0.0.1", serve(_serve_bytes(AMQP_START)))
    assert result.ok, result
    assert result.version == "3.10.8"
    assert result.detail.startswith("RabbitMQ, AMQP 0-9")


def test_probe_rabbitmq_protocol_mismatch(serve) -> None:
    result = probe_rabbitmq("127.0.0.1", serve(_serve_bytes(b"AMQP\x01\x01\x00\x0a")))
    assert not result.ok
    assert "proposed 01 01 00 0a" in result.detail


def test_probe_rabbitmq_bad_frame_end(serve) -> None:
    result = probe_rabbitmq("127.0.0.1", serve(_serve_bytes(AMQP_START[:-1] + b"\x00")))
    assert not result.ok
    assert "frame end 0x00" in result.detail


# --- failures common to all probes ---------------------------------------------------

@pytest.mark.parametrize("probe", [probe_kafka, probe_cassandra, probe_rabbitmq])
def test_closed_port_is_down_with_clear_error(probe) -> None:
    result = probe("127.0.0.1", closed_port(), timeout=1.0)
    assert not result.ok
    assert result.detail == "connection refused"
    assert result.version is None


@pytest.mark.parametrize("probe", [probe_kafka, probe_cassandra, probe_rabbitmq])
def test_silent_server_times_out(serve, probe) -> None:
    stop = threading.Event()
    port = serve(lambda conn, _: stop.wait(2.0))
    try:
        result = probe("127.0.0.1", port, timeout=0.3)
    finally:
        stop.set()
    assert not result.ok
    assert result.detail == "timed out"
    assert result.latency_ms < 2000


@pytest.mark.parametrize("probe", [probe_kafka, probe_cassandra, probe_rabbitmq])
def test_server_hanging_up_is_unexpected_reply(serve, probe) -> None:
    def drain_then_close(conn: socket.socket, _: int) -> None:
        conn.settimeout(0.2)  # read the whole request so closing sends FIN, not RST
        try:
            while conn.recv(65536):
                pass
        except TimeoutError:
            pass

    result = probe("127.0.0.1", serve(drain_then_close), timeout=2.0)
    assert not result.ok
    assert result.detail.startswith("unexpected reply: connection closed by server")


def test_unresolvable_host_does_not_raise() -> None:
    result = probe_kafka("no-such-host.invalid", 9092, timeout=1.0)
    assert not result.ok
    assert result.detail


# --- HTTP / Ollama -------------------------------------------------------------------

@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            routes = {
                "/api/version": {"version": "0.9.1"},
                "/old/api/tags": {"models": []},
                "/plain/": {"status": "ok"},
            }
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_http_reads_json_version(http_server: str) -> None:
    result = probe_http(f"{http_server}/api/version")
    assert result.ok and result.version == "0.9.1" and result.detail == "HTTP 200"


def test_probe_http_404_is_down(http_server: str) -> None:
    result = probe_http(f"{http_server}/nope")
    assert not result.ok and result.detail.startswith("HTTP 404")


def test_probe_ollama_falls_back_to_tags(http_server: str) -> None:
    assert probe_ollama(http_server).version == "0.9.1"
    old = probe_ollama(f"{http_server}/old")
    assert old.ok and old.version is None and old.name == "ollama"


def test_probe_http_connection_refused() -> None:
    result = probe_http(f"http://127.0.0.1:{closed_port()}/api/version", timeout=1.0)
    assert not result.ok and result.detail == "connection refused"


def test_probe_http_base_url_asks_api_version(http_server: str) -> None:
    result = probe_http(http_server)
    assert result.ok and result.version == "0.9.1"


def test_probe_http_with_a_path_gets_exactly_that_path(http_server: str) -> None:
    result = probe_http(f"{http_server}/plain/")
    assert result.ok and result.version is None and result.detail == "HTTP 200"


def test_probe_http_base_url_falls_back_to_itself_without_api_version() -> None:
    class RootOnly(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), RootOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = probe_http(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.ok and result.version is None and result.detail == "HTTP 200"
