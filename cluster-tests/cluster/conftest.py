"""Fixtures for the three-node cluster tests: a `cluster` of three real `riffle serve` processes wired as in
/work/notes/cluster-spec.md (node.id 1..3, a PLAINTEXT and a CONTROLLER listener each, one
controller.quorum.voters list, RF=3 and min.insync.replicas=2), plus fault-injection and client helpers.

Every node started here is killed at teardown (try/finally), by an atexit backstop, and by the kernel
(PR_SET_PDEATHSIG through `setpriv`) if the pytest process itself dies. Nodes are only ever started from the
main thread: PDEATHSIG fires when the *thread* that forked the child exits. On a failed test the tail of each
node's stderr is attached to the report. The process handling itself is cluster-tests/harness/procs.py, shared
with cluster-tests/interop/conftest.py.
"""

import logging
import pathlib
import shutil
import signal
import sys
import time
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from harness import procs  # noqa: E402
from harness.procs import free_ports, riffle_bin  # noqa: E402,F401 (scripts import them from here)

REPO_ROOT = procs.REPO_ROOT
CLUSTER_DIR = pathlib.Path(__file__).resolve().parent
JS_NODE_MODULES = REPO_ROOT / "cluster-tests" / "interop" / "js" / "node_modules"

NODE_IDS = (1, 2, 3)

# Settings every node gets (the contract's, plus what keeps the tests light and isolated). Topic
# auto-creation is off so that a client's Metadata request for a missing topic cannot create it.
DEFAULT_OVERRIDES = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "3",
    "schema.registry.listeners": "",
    # No metrics listener either (tests run clusters side by side).
    "metrics.listeners": "",
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
}

NODE_LISTEN_TIMEOUT_S = 30.0
CLUSTER_READY_TIMEOUT_S = 30.0
NODE_STOP_TIMEOUT_S = 15.0

NodeDied = procs.ProcessDied


class Node(procs.ServeProcess):
    """One `riffle serve` process with a fixed node id, ports and data dir that survive kill/stop/start/wipe."""

    def __init__(self, node_id, kafka_port, raft_port, data_dir, stderr_path):
        super().__init__(f"node {node_id}", kafka_port, stderr_path)
        self.node_id = node_id
        self.kafka_port = kafka_port
        self.raft_port = raft_port
        self.data_dir = pathlib.Path(data_dir)
        self.paused = False

    def launch(self):
        """Starts the process without waiting for it to listen (a node may wait for a quorum first)."""
        if not self.running():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.paused = False
        super().launch()

    def start(self, timeout_s=NODE_LISTEN_TIMEOUT_S):
        self.launch()
        self.wait_listening(timeout_s)
        return self

    def kill(self):
        """SIGKILL: no chance to flush or say goodbye (works on a paused process too)."""
        code = super().kill()
        if self.proc is not None:
            self.paused = False
        return code

    def stop(self, timeout_s=NODE_STOP_TIMEOUT_S):
        """SIGTERM (a clean shutdown), then SIGKILL if the node has not exited within timeout_s."""
        if self.paused and self.running():
            self.resume()
        return super().stop(timeout_s)

    def pause(self):
        """SIGSTOP: the process keeps its sockets but answers nothing (a hung node / GC pause)."""
        assert self.running(), f"node {self.node_id} is not running"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def partition_dir_bytes(self, topic, partition):
        """Total size of the files under this node's directory for topic-partition (Kafka's `topic-N`)."""
        d = self.data_dir / f"{topic}-{partition}"
        if not d.is_dir():
            return None
        return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


class ClusterNotReady(AssertionError):
    pass


class Cluster:
    """Three nodes. `cluster.nodes[id]` is a Node; operations take node ids (1, 2, 3)."""

    def __init__(self, base_dir, extra_overrides=None):
        ports = free_ports(2 * len(NODE_IDS))
        self.nodes = {}
        for i, node_id in enumerate(NODE_IDS):
            self.nodes[node_id] = Node(node_id, ports[2 * i], ports[2 * i + 1],
                                       pathlib.Path(base_dir) / f"node-{node_id}",
                                       pathlib.Path(base_dir) / f"node-{node_id}.stderr")
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.raft_port}" for n in self.nodes.values())
        for n in self.nodes.values():
            n.overrides = {
                **DEFAULT_OVERRIDES,
                **(extra_overrides or {}),
                "node.id": str(n.node_id),
                "listeners": f"PLAINTEXT://127.0.0.1:{n.kafka_port},CONTROLLER://127.0.0.1:{n.raft_port}",
                "controller.quorum.voters": voters,
                "log.dirs": str(n.data_dir),
            }

    # --- addresses -------------------------------------------------------------------------------------

    @property
    def bootstrap(self):
        """All three nodes' PLAINTEXT addresses, as clients are configured in production."""
        return ",".join(n.bootstrap for n in self.nodes.values())

    def bootstrap_of(self, node_ids):
        return ",".join(self.nodes[i].bootstrap for i in node_ids)

    def running_ids(self):
        return [i for i, n in self.nodes.items() if n.running() and not n.paused]

    # --- lifecycle -------------------------------------------------------------------------------------

    def start_all(self, timeout_s=CLUSTER_READY_TIMEOUT_S):
        """Launches every node that is not running, then waits for them to listen and the cluster to be
        ready. Launching all before waiting matters: a node may not listen until it has a quorum."""
        for n in self.nodes.values():
            if not n.running():
                n.launch()
        for n in self.nodes.values():
            n.wait_listening()
        self.wait_ready(timeout_s=timeout_s)

    def kill(self, node_id):
        return self.nodes[node_id].kill()

    def stop(self, node_id):
        return self.nodes[node_id].stop()

    def start(self, node_id, wait_ready=True):
        """Restarts a stopped/killed node on the same ports and data dir; by default waits until every
        running node's Metadata lists all brokers and a controller again."""
        self.nodes[node_id].start()
        if wait_ready:
            self.wait_ready()

    def pause(self, node_id):
        self.nodes[node_id].pause()

    def resume(self, node_id):
        self.nodes[node_id].resume()

    def wipe(self, node_id, wait_ready=True):
        """SIGKILL the node, delete its data dir, start it again with the same node.id and ports."""
        node = self.nodes[node_id]
        node.kill()
        shutil.rmtree(node.data_dir, ignore_errors=True)
        node.data_dir.mkdir(parents=True)
        self.start(node_id, wait_ready=wait_ready)

    def kill_all(self):
        for n in self.nodes.values():
            n.kill()

    # --- metadata --------------------------------------------------------------------------------------

    def metadata(self, node_ids=None, topic=None, timeout_s=5):
        """confluent-kafka ClusterMetadata asked of the given nodes (default: all running ones)."""
        ids = node_ids or self.running_ids()
        admin = admin_client(self.bootstrap_of(ids))
        return admin.list_topics(topic=topic, timeout=timeout_s)

    def node_metadata(self, node_id, topic=None, timeout_s=3):
        """Metadata from a client that only knows this node (its first and only bootstrap connection)."""
        admin = admin_client(self.nodes[node_id].bootstrap)
        return admin.list_topics(topic=topic, timeout=timeout_s)

    def readiness(self, expected_brokers=None):
        """None when every running node's Metadata lists at least `expected_brokers` brokers (default: as many
        as nodes run) with their PLAINTEXT addresses, and a controller; else a sentence saying what is
        missing."""
        running = self.running_ids()
        if not running:
            return "no node is running"
        if expected_brokers is None:
            expected_brokers = len(running)
        for node_id in running:
            try:
                md = self.node_metadata(node_id)
            except Exception as e:  # KafkaException, timeouts: not ready yet
                return f"node {node_id} Metadata failed: {e}"
            brokers = sorted(md.brokers)
            if len(brokers) < expected_brokers:
                noun = "broker" if len(brokers) == 1 else "brokers"
                return f"node {node_id} Metadata shows {len(brokers)} {noun} {brokers}"
            if md.controller_id == -1 or md.controller_id is None:
                return f"node {node_id} Metadata shows no controller (controller_id -1), brokers {brokers}"
            for b in md.brokers.values():
                expected = self.nodes.get(b.id)
                if expected is None or (b.host, b.port) != ("127.0.0.1", expected.kafka_port):
                    return (f"node {node_id} Metadata lists broker {b.id} at {b.host}:{b.port}, expected "
                            f"{expected.bootstrap if expected else 'no such node id'}")
        return None

    def wait_ready(self, expected_brokers=None, timeout_s=CLUSTER_READY_TIMEOUT_S):
        """Waits until every running node's Metadata lists `expected_brokers` (default: as many as nodes run)
        brokers and a controller.
        Raises ClusterNotReady("cluster not ready after 30 s: node 1 Metadata shows 1 broker [1]")."""
        deadline = time.monotonic() + timeout_s
        while True:
            for n in self.nodes.values():
                code = n.exited_unasked()
                if code is not None:
                    raise NodeDied(f"node {n.node_id} exited with code {code}\n"
                                   f"--- node {n.node_id} stderr tail ---\n{n.log_tail()}")
            problem = self.readiness(expected_brokers)
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise ClusterNotReady(f"cluster not ready after {timeout_s:g} s: {problem}")
            time.sleep(0.3)

    def partitions(self, topic, node_ids=None):
        """{partition: PartitionMetadata} of a topic; raises if the topic is not in Metadata."""
        md = self.metadata(node_ids=node_ids, topic=topic)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise AssertionError(f"topic {topic} not in Metadata: {t and t.error}")
        return dict(t.partitions)

    def views(self, topic):
        """{node_id: {partition: (leader, replicas, isr)} or an error string}: each running node's own Metadata
        for the topic, asked of that node alone."""
        out = {}
        for node_id in self.running_ids():
            try:
                t = self.node_metadata(node_id, topic=topic).topics.get(topic)
                if t is None or t.error is not None:
                    out[node_id] = f"topic missing ({t.error if t is not None else 'not listed'})"
                else:
                    out[node_id] = {p: (pm.leader, list(pm.replicas), list(pm.isrs))
                                    for p, pm in sorted(t.partitions.items())}
            except Exception as e:
                out[node_id] = f"Metadata failed: {e}"
        return out

    def wait_agreed_leaders(self, topic, partitions, leaders_in=None, timeout_s=60):
        """Waits until every running node's own Metadata lists all partitions of the topic with the same
        leader per partition, a running node (or one of `leaders_in`). Returns {partition: leader}; on timeout
        fails with each node's view."""
        allowed = set(leaders_in or self.running_ids())
        deadline = time.monotonic() + timeout_s
        while True:
            views = self.views(topic)
            leaders = None
            if views and all(isinstance(v, dict) and sorted(v) == list(range(partitions)) for v in views.values()):
                per_node = [{p: v[p][0] for p in v} for v in views.values()]
                if all(pn == per_node[0] for pn in per_node) and set(per_node[0].values()) <= allowed:
                    leaders = per_node[0]
            if leaders is not None:
                return leaders
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"running nodes {self.running_ids()} do not agree on leaders in {sorted(allowed)} for {topic} "
                    f"after {timeout_s} s; per-node Metadata (leader, replicas, isr): {views}")
            time.sleep(0.3)

    def leader_of(self, topic, partition, node_ids=None):
        """The leader node id of topic-partition as Metadata reports it (-1 if none)."""
        try:
            return self.partitions(topic, node_ids)[partition].leader
        except Exception:
            return -1

    def wait_for_leader(self, topic, partition, not_in=(), timeout_s=30):
        """Waits until topic-partition has a leader that is a running node and not in `not_in`."""
        def ok():
            leader = self.leader_of(topic, partition)
            return leader if leader in self.running_ids() and leader not in not_in else None

        return wait_until(ok, timeout_s, what=f"a leader of {topic}-{partition} among running nodes "
                          f"{self.running_ids()} outside {list(not_in)}")

    def wait_fully_replicated(self, topic, partitions, replicas=3, timeout_s=30, node_ids=None):
        """Waits until every partition has a leader, `replicas` replicas and all of them in the ISR."""
        def state():
            try:
                parts = self.partitions(topic, node_ids)
            except Exception as e:
                return False, str(e)
            if sorted(parts) != list(range(partitions)):
                return False, f"partitions {sorted(parts)}"
            for p, pm in parts.items():
                if pm.leader < 0 or len(pm.replicas) != replicas or sorted(pm.isrs) != sorted(pm.replicas):
                    return False, f"partition {p}: leader {pm.leader} replicas {pm.replicas} isr {pm.isrs}"
            return True, ""

        last = ""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok, last = state()
            if ok:
                return
            time.sleep(0.3)
        raise AssertionError(f"{topic} not fully replicated (RF={replicas}, ISR=replicas) after {timeout_s} s: "
                             f"{last}")


_session = {"ever_ready": False, "never_ready": None}


@pytest.fixture
def cluster(request, tmp_path):
    """Three running nodes, ready (Metadata on each lists 3 brokers and a controller). Killed at teardown."""
    if _session["never_ready"] is not None:
        # Every later test would wait out the same 30 s for a broker that cannot form a cluster.
        pytest.fail(f"not starting another cluster: the first one in this run never became ready "
                    f"({_session['never_ready']})", pytrace=False)
    c = Cluster(tmp_path)
    request.node._riffle_cluster = c
    try:
        try:
            c.start_all()
        except ClusterNotReady as e:
            if not _session["ever_ready"]:
                _session["never_ready"] = str(e)
            raise
        _session["ever_ready"] = True
        yield c
    finally:
        c.kill_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    c = getattr(item, "_riffle_cluster", None)
    nodes = c.nodes.items() if c is not None else []
    procs.attach_stderr_tails(outcome.get_result(), [(f"riffle node {i}", n) for i, n in nodes])


# ---------------------------------------------------------------------------------------------------------
# Client helpers (adapted from cluster-tests/interop/conftest.py).


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
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last value: {last!r}")


def kafka_config(bootstrap, **extra):
    """Base librdkafka settings; its log lines go to Python logging (shown with a failed test's report)
    instead of stderr, where clients reconnecting to a stopped node would flood the output."""
    return {"bootstrap.servers": bootstrap, "logger": logging.getLogger("librdkafka"), **extra}


def admin_client(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_config(bootstrap))


def create_topic(cluster, name, partitions=6, replication_factor=3, config=None, timeout_s=30):
    """Creates a topic through the cluster (the client finds the controller) and waits until every partition
    has a leader and a full ISR."""
    from confluent_kafka.admin import NewTopic

    admin = admin_client(cluster.bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})],
        operation_timeout=timeout_s, request_timeout=timeout_s,
    )
    futures[name].result(timeout=timeout_s + 5)
    cluster.wait_fully_replicated(name, partitions, replicas=replication_factor, timeout_s=timeout_s)
    return name


def producer(bootstrap, **extra):
    from confluent_kafka import Producer

    conf = kafka_config(bootstrap, **{"acks": "all", "linger.ms": 5})
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return Producer(conf)


def produce_all(bootstrap, topic, messages, timeout_s=60, **extra):
    """Produces [(partition, key, value)] with acks=all and waits for every delivery report. Returns
    (acked [(partition, offset, key, value)], errors [(partition, key, value, KafkaError)])."""
    p = producer(bootstrap, **extra)
    acked, errors = [], []

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        else:
            errors.append((msg.partition(), msg.key(), msg.value(), err))

    for partition, key, value in messages:
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=partition, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout_s)
    assert remaining == 0, f"{remaining} messages still undelivered (no delivery report) after {timeout_s} s"
    return acked, errors


def consumer_config(bootstrap, **extra):
    """confluent-kafka Consumer settings for assign()-only reading: no offset commits, no group joined."""
    config = {
        **kafka_config(bootstrap),
        "group.id": f"cluster-assign-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    config.update(extra)
    return config


def read_partitions(bootstrap, topic, partitions, timeout_s=60, project=None, **extra):
    """Reads each partition with assign() from the beginning to the high watermark it has when reading
    starts. Returns {partition: [project(Message)]} in offset order (default projection: (key, value))."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    project = project or (lambda m: (m.key(), m.value()))
    consumer = Consumer(consumer_config(bootstrap, **extra))
    try:
        ends = {}
        for p in partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15, cached=False)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out = {p: [] for p in partitions}
        done = {p for p in partitions if ends[p] == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(partitions):
            if time.monotonic() > deadline:
                got = {p: len(v) for p, v in out.items()}
                raise AssertionError(f"reading {topic} timed out after {timeout_s} s: got {got}, "
                                     f"high watermarks {ends}")
            for msg in consumer.consume(num_messages=10000, timeout=1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= ends[msg.partition()]:
                            done.add(msg.partition())
                        continue
                    raise AssertionError(f"consume error on {topic}: {err}")
                out[msg.partition()].append(project(msg))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return out
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------------------
# Figures (failover gaps, timings) a test wants printed at the end of the run; never asserted.

_figures = []


@pytest.fixture
def report_figure(request):
    def record(name, value):
        print(f"{request.node.name}: {name} = {value}")
        _figures.append((request.node.name, name, value))

    return record


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.section("riffle cluster figures")
        for test_name, name, value in _figures:
            terminalreporter.write_line(f"{test_name}: {name} = {value}")
