"""Shared fixtures for the interop tests: a real `riffle serve` process per test, plus small client helpers.

Every broker started here is killed at teardown (try/finally), by an atexit backstop, and by the kernel
(PR_SET_PDEATHSIG through `setpriv`) if the pytest process itself dies. On a failed test the tail of each
broker's stderr is attached to the report.
"""

import atexit
import logging
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
INTEROP_DIR = pathlib.Path(__file__).resolve().parent
DEFAULT_RIFFLE_BIN = REPO_ROOT / "target" / "release" / "riffle"
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
LOG_TAIL_LINES = 60

_live_processes = set()


def _kill_all_live_processes():
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _live_processes.discard(proc)


atexit.register(_kill_all_live_processes)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def riffle_bin():
    return pathlib.Path(os.environ.get("RIFFLE_BIN", str(DEFAULT_RIFFLE_BIN)))


class BrokerDied(Exception):
    pass


class Broker:
    """One `riffle serve` process on a fixed port and log dir that survive stop/kill9/restart."""

    def __init__(self, binary, port, log_dir, stderr_path, overrides):
        self.binary = pathlib.Path(binary)
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_dir = pathlib.Path(log_dir)
        self.stderr_path = pathlib.Path(stderr_path)
        self.overrides = dict(overrides)
        self.proc = None
        self.starts = 0

    def command(self):
        cmd = [str(self.binary), "serve"]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        # The kernel kills the broker if the process that started it dies (even by SIGKILL).
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        return cmd

    def start(self, timeout_s=BROKER_START_TIMEOUT_S):
        if self.running():
            raise RuntimeError("broker already running")
        if not self.binary.exists():
            raise FileNotFoundError(
                f"riffle binary not found at {self.binary} (build it with `cargo build --release --bin riffle` "
                "or set RIFFLE_BIN)"
            )
        self.starts += 1
        with open(self.stderr_path, "ab") as err:
            err.write(f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            err.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env={**os.environ, "RUST_BACKTRACE": "1"},
            )
        _live_processes.add(self.proc)
        self._wait_until_accepting(timeout_s)
        return self

    def _wait_until_accepting(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.proc.poll()
            if code is not None:
                _live_processes.discard(self.proc)
                raise BrokerDied(
                    f"riffle exited with code {code} before accepting connections on {self.bootstrap}\n"
                    f"--- broker stderr tail ---\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill9()
                raise TimeoutError(
                    f"riffle did not accept connections on {self.bootstrap} within {timeout_s}s\n"
                    f"--- broker stderr tail ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s=BROKER_STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL if the broker has not exited within timeout_s. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live_processes.discard(self.proc)
        return self.proc.returncode

    def kill9(self):
        """SIGKILL: no chance to flush or clean up, like a power cut for the process (not for the disk)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _live_processes.discard(self.proc)
        return self.proc.returncode

    def restart(self, timeout_s=BROKER_START_TIMEOUT_S):
        """Stops the broker if it runs, then starts it again on the same port and log dir."""
        self.stop()
        return self.start(timeout_s)

    def log_tail(self, lines=LOG_TAIL_LINES):
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker stderr file)"
        return "\n".join(text.splitlines()[-lines:])


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
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for index, broker in enumerate(getattr(item, "_riffle_brokers", [])):
            report.sections.append(
                (f"riffle broker{index} stderr tail ({broker.stderr_path})", broker.log_tail())
            )


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
