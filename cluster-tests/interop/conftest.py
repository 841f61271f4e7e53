"""Shared fixtures for the interop tests: a real `riffle serve` process per test, plus small client helpers.

Every broker started here is killed at teardown (try/finally), by an atexit backstop, and by the kernel
(PR_SET_PDEATHSIG through `setpriv`) if the pytest process itself dies. On a failed test the tail of each
broker's stderr is attached to the report. The process handling itself is cluster-tests/harness/procs.py, shared
with cluster-tests/cluster/conftest.py.
"""

import logging
import os
import pathlib
import socket
import struct
import sys
import time
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from harness import procs  # noqa: E402
from harness.procs import free_port, riffle_bin  # noqa: E402,F401 (the tests import them from here)

INTEROP_DIR = pathlib.Path(__file__).resolve().parent
KNOWN_FAILURES_FILE = INTEROP_DIR / "known_failures.txt"

# Overrides every test broker gets unless the test says otherwise. Topic auto-creation is off so that a
# client's Metadata request for a missing topic cannot create it behind a test's back.
DEFAULT_OVERRIDES = {
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    # No schema registry listener unless a test asks for one (tests run brokers side by side).
    "schema.registry.listeners": "",
    "metrics.listeners": "",
}

BROKER_START_TIMEOUT_S = 30.0
BROKER_STOP_TIMEOUT_S = 10.0

BrokerDied = procs.ProcessDied


class Broker(procs.ServeProcess):
    """One `riffle serve` process on a fixed port and log dir that survive stop/kill9/restart."""

    log_tail_lines = 60

    def __init__(self, binary, port, log_dir, stderr_path, overrides):
        super().__init__("broker", port, stderr_path, overrides, binary=binary)
        self.log_dir = pathlib.Path(log_dir)

    def start(self, timeout_s=BROKER_START_TIMEOUT_S):
        """Starts the broker and waits until it accepts connections (killing it if it does not in time)."""
        self.launch()
        self.wait_listening(timeout_s, kill_on_timeout=True)
        return self

    def stop(self, timeout_s=BROKER_STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL if the broker has not exited within timeout_s. Returns the exit code."""
        return super().stop(timeout_s)

    def kill9(self):
        """SIGKILL: no chance to flush or clean up, like a power cut for the process (not for the disk)."""
        return self.kill()

    def restart(self, timeout_s=BROKER_START_TIMEOUT_S):
        """Stops the broker if it runs, then starts it again on the same port and log dir."""
        self.stop()
        return self.start(timeout_s)


@pytest.fixture
def broker_factory(request, tmp_path):
    """start_broker(**overrides) -> Broker; keys use Kafka property names with '_' for '.' or a dict."""
    started = []
    request.node._riffle_brokers = started

    def start_broker(overrides=None, **kw_overrides):
        merged = dict(DEFAULT_OVERRIDES)
        merged.update(overrides or {})
        merged.update({k.replace("_", "."): str(v) for k, v in kw_overrides.items()})
        index = len(started)
        port = free_port()
        log_dir = tmp_path / f"broker{index}-data"
        log_dir.mkdir()
        merged["listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
        merged["log.dirs"] = str(log_dir)
        broker = Broker(riffle_bin(), port, log_dir, tmp_path / f"broker{index}.stderr", merged)
        started.append(broker)
        broker.start()
        return broker

    try:
        yield start_broker
    finally:
        for broker in started:
            broker.kill9()


@pytest.fixture
def broker(broker_factory):
    """A broker with DEFAULT_OVERRIDES."""
    return broker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    brokers = getattr(item, "_riffle_brokers", [])
    procs.attach_stderr_tails(outcome.get_result(), [(f"riffle broker{i}", b) for i, b in enumerate(brokers)])


# ---------------------------------------------------------------------------------------------------------
# Known failures: an allow-list of tests that fail against the current broker, each with the reason. They
# run as strict xfails: a test on the list that starts passing fails the run until it is taken off the list.
# RIFFLE_INTEROP_STRICT=1 ignores the list.


def _known_failures():
    if os.environ.get("RIFFLE_INTEROP_STRICT") == "1" or not KNOWN_FAILURES_FILE.exists():
        return {}
    known = {}
    for line in KNOWN_FAILURES_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition(" ")
        known[test_id] = reason.strip() or "listed in known_failures.txt"
    return known


def pytest_collection_modifyitems(config, items):
    known = _known_failures()
    for item in items:
        test_id = item.nodeid.split("/")[-1]
        reason = known.get(test_id) or known.get(test_id.split("[")[0])
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"known_failures.txt: {reason}", strict=True))


# ---------------------------------------------------------------------------------------------------------
# Figures (throughput, timings) a test wants printed at the end of the run.

_figures = []


@pytest.fixture
def report_figure(request):
    def record(name, value):
        _figures.append((request.node.name, name, value))

    return record


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.section("riffle interop figures")
        for test_name, name, value in _figures:
            terminalreporter.write_line(f"{test_name}: {name} = {value}")


# ---------------------------------------------------------------------------------------------------------
# Helpers


def unique_topic(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout_s, interval_s=0.2, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it, or raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last value: {last!r}")


def kafka_config(bootstrap):
    """Base librdkafka settings: its log lines go to Python logging (shown with a failed test's report) instead
    of stderr, where clients still reconnecting to a stopped broker would flood the run's output."""
    return {"bootstrap.servers": bootstrap, "logger": logging.getLogger("librdkafka")}


def admin_client(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_config(bootstrap))


def create_topic(bootstrap, name, partitions=1, config=None, timeout_s=30):
    """Creates a topic with confluent-kafka's AdminClient and waits until Metadata lists all its partitions."""
    from confluent_kafka.admin import NewTopic

    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout_s,
    )
    futures[name].result(timeout=timeout_s)

    def listed():
        md = admin.list_topics(topic=name, timeout=5)
        topic = md.topics.get(name)
        return topic is not None and topic.error is None and len(topic.partitions) == partitions

    wait_until(listed, timeout_s, what=f"topic {name} with {partitions} partitions in Metadata")
    return name


def consumer_config(bootstrap, **extra):
    """confluent-kafka Consumer settings for assign()-only reading: no offset commits, no group needed."""
    config = {
        **kafka_config(bootstrap),
        "group.id": f"interop-assign-{uuid.uuid4().hex[:8]}",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    config.update(extra)
    return config


def read_partitions(bootstrap, topic, partitions, start_offsets=None, timeout_s=60, project=None, **extra):
    """Reads each partition with assign() from its start offset (default: beginning) to the high watermark
    it has when reading starts. Returns {partition: [project(Message), ...]} in offset order (project
    defaults to keeping the Message)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(consumer_config(bootstrap, **extra))
    try:
        ends = {}
        for p in partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        start_offsets = start_offsets or {}
        consumer.assign([TopicPartition(topic, p, start_offsets.get(p, OFFSET_BEGINNING)) for p in partitions])
        out = {p: [] for p in partitions}
        done = {p for p in partitions if ends[p] == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(partitions):
            if time.monotonic() > deadline:
                got = {p: len(v) for p, v in out.items()}
                raise AssertionError(f"reading {topic} timed out: got {got}, high watermarks {ends}")
            for msg in consumer.consume(num_messages=10000, timeout=1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= ends[msg.partition()]:
                            done.add(msg.partition())
                        continue
                    raise AssertionError(f"consume error on {topic}: {err}")
                out[msg.partition()].append(project(msg) if project else msg)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return out
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------------------
# Raw protocol helpers (Kafka wire format, non-flexible request header v1).


def encode_string(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def encode_bytes(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def request_frame(api_key, api_version, correlation_id, body, client_id="riffle-interop"):
    """A size-prefixed request with request header v1 (api_key, api_version, correlation_id, client_id)."""
    header = struct.pack(">hhi", api_key, api_version, correlation_id) + encode_string(client_id)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(sock):
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def connection_closed_by_peer(sock, timeout_s=10.0):
    """True if the peer closes the connection (EOF or reset) within timeout_s without sending a frame."""
    sock.settimeout(timeout_s)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return data == b""


def api_versions_v0(sock, correlation_id=1):
    """Sends ApiVersions v0; returns (error_code, {api_key: (min_version, max_version)})."""
    sock.sendall(request_frame(18, 0, correlation_id, b""))
    resp = recv_frame(sock)
    (corr, error_code, count) = struct.unpack_from(">ihi", resp, 0)
    assert corr == correlation_id, f"correlation id {corr} != {correlation_id}"
    versions = {}
    pos = 10
    for _ in range(max(count, 0)):
        key, lo, hi = struct.unpack_from(">hhh", resp, pos)
        versions[key] = (lo, hi)
        pos += 6
    return error_code, versions


def watermarks(bootstrap, topic, partition):
    """(low, high) for one partition, asked of the broker (ListOffsets earliest and latest)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(consumer_config(bootstrap))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        consumer.close()
