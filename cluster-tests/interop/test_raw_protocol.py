"""Hand-built frames on a raw socket: oversized and garbage input closes the connection without harming other
clients; old or unknown versions get UNSUPPORTED_VERSION (35) where Kafka documents that answer."""

import socket
import struct
import zlib

import pytest
from confluent_kafka.admin import AdminClient

from conftest import (
    api_versions_v0,
    connection_closed_by_peer,
    create_topic,
    encode_bytes,
    encode_string,
    kafka_config,
    recv_frame,
    request_frame,
    unique_topic,
    watermarks,
)

UNSUPPORTED_VERSION = 35
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # socket.request.max.bytes default


def connect(broker):
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def assert_broker_serves_new_clients(broker):
    with connect(broker) as sock:
        error_code, versions = api_versions_v0(sock, correlation_id=77)
        assert error_code == 0
        assert 18 in versions
    # A Metadata request for one topic (auto-creation is off in the fixture): the broker list must come back.
    md = AdminClient(kafka_config(broker.bootstrap)).list_topics(topic="probe", timeout=10)
    assert len(md.brokers) == 1


def test_frame_size_over_100_mib_closes_connection(broker):
    with connect(broker) as sock:
        sock.sendall(struct.pack(">i", MAX_REQUEST_BYTES + 1) + request_frame(18, 0, 1, b"")[4:])
        assert connection_closed_by_peer(sock), "broker kept a connection that announced a 100 MiB + 1 frame"
    assert_broker_serves_new_clients(broker)


def test_negative_frame_size_closes_connection(broker):
    with connect(broker) as sock:
        sock.sendall(struct.pack(">i", -5) + b"\x00" * 16)
        assert connection_closed_by_peer(sock)
    assert_broker_serves_new_clients(broker)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        struct.pack(">i", 12) + b"\xde\xad\xbe\xef" * 3,  # well-sized frame, api key 0xdead (unknown)
        struct.pack(">i", 3) + b"\x00\x12\x00",  # frame too short to hold a request header
        struct.pack(">i", 10) + struct.pack(">hhih", 18, 0, 5, 50),  # client id length past the frame end
    ],
    ids=["http-request", "unknown-api-key", "truncated-header", "client-id-past-frame-end"],
)
def test_garbage_bytes_close_connection_and_broker_keeps_serving(broker, garbage):
    with connect(broker) as bystander, connect(broker) as attacker:
        assert api_versions_v0(bystander, correlation_id=1)[0] == 0
        attacker.sendall(garbage)
        assert connection_closed_by_peer(attacker), f"connection stayed open after {garbage!r}"
        # A connection opened before the garbage keeps working.
        assert api_versions_v0(bystander, correlation_id=2)[0] == 0
    assert_broker_serves_new_clients(broker)


def legacy_message_set_v1(key, value, timestamp_ms):
    """One magic-1 message (the format Produce v2 carries): offset, size, crc, magic, attributes, ts, key, value."""
    body = struct.pack(">bbq", 1, 0, timestamp_ms) + encode_bytes(key) + encode_bytes(value)
    message = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body
    return struct.pack(">qi", 0, len(message)) + message


def test_produce_v2_gets_unsupported_version_error_35(broker):
    topic = create_topic(broker.bootstrap, unique_topic("raw"))
    record_set = legacy_message_set_v1(b"k", b"old client", 1_700_000_000_000)
    body = (
        struct.pack(">hi", -1, 5000)  # acks=all, timeout_ms
        + struct.pack(">i", 1) + encode_string(topic)
        + struct.pack(">i", 1) + struct.pack(">i", 0) + encode_bytes(record_set)
    )
    with connect(broker) as sock:
        sock.sendall(request_frame(0, 2, 4242, body))
        resp = recv_frame(sock)
    # Produce response v2: correlation_id, [topic, [partition, error_code, base_offset, log_append_time]], throttle
    (correlation_id, topic_count) = struct.unpack_from(">ii", resp, 0)
    assert correlation_id == 4242
    assert topic_count == 1, f"response: {resp.hex()}"
    pos = 8
    (name_len,) = struct.unpack_from(">h", resp, pos)
    pos += 2
    assert resp[pos:pos + name_len].decode() == topic
    pos += name_len
    (partition_count,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    assert partition_count == 1
    partition, error_code, base_offset, _log_append_time = struct.unpack_from(">ihqq", resp, pos)
    assert (partition, error_code, base_offset) == (0, UNSUPPORTED_VERSION, -1), f"response: {resp.hex()}"

    # Nothing was appended.
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)


def test_api_versions_v0_lists_core_apis_and_produce_from_v0(broker):
    with connect(broker) as sock:
        error_code, versions = api_versions_v0(sock)
    assert error_code == 0
    for api_key in (0, 1, 2, 3, 18, 19, 20):  # Produce, Fetch, ListOffsets, Metadata, ApiVersions, Create/DeleteTopics
        assert api_key in versions, f"api key {api_key} not advertised: {versions}"
    # DESIGN.md "Versions we advertise": Produce from v0 (answered with UNSUPPORTED_VERSION below v3), as Kafka 4.
    assert versions[0][0] == 0
    assert versions[0][1] >= 3
    assert versions[18][0] == 0 and versions[18][1] >= 3


def test_api_versions_with_unknown_version_answers_v0_with_unsupported_version(broker):
    # KIP-511: a broker answers an ApiVersions request it cannot parse with a v0 response carrying error 35
    # and its supported versions, so the client can retry with a version both know.
    with connect(broker) as sock:
        sock.sendall(request_frame(18, 999, 9, b""))
        resp = recv_frame(sock)
    (correlation_id, error_code, count) = struct.unpack_from(">ihi", resp, 0)
    assert correlation_id == 9
    assert error_code == UNSUPPORTED_VERSION
    keys = {struct.unpack_from(">h", resp, 10 + 6 * i)[0] for i in range(count)}
    assert 18 in keys
