"""Faults against a three-node cluster: a leader SIGKILLed under load, two of three nodes down, a node whose
data dir is wiped, and a full stop/start of all three. Every wait has a deadline that fails with a sentence
saying what did not happen; speeds are printed (report_figure), never asserted."""

import collections
import threading
import time

from confluent_kafka.admin import ConfigResource

from conftest import (
    admin_client,
    create_topic,
    kafka_config,
    produce_all,
    read_partitions,
    unique_topic,
    wait_until,
)


def messages_for(tag, partitions, per_partition):
    """[(partition, key, value)] with values unique across the test (tag) and ordered per partition."""
    return [(p, f"{tag}-k{i}".encode(), f"{tag}-p{p}-{i:06d}".encode() + b"." * (i % 50))
            for i in range(per_partition) for p in range(partitions)]


def by_partition(messages, partitions):
    out = {p: [] for p in range(partitions)}
    for p, k, v in messages:
        out[p].append((k, v))
    return out


# ---------------------------------------------------------------------------------------------------------


class IdempotentLoad:
    """A confluent-kafka producer (acks=all, enable.idempotence=true) in its own thread, producing unique values
    round-robin over the partitions until stopped. Delivery callbacks record what was acknowledged and when.
    The thread never starts processes (PDEATHSIG is per thread)."""

    def __init__(self, bootstrap, topic, partitions, name):
        from confluent_kafka import Producer

        self.topic = topic
        self.partitions = partitions
        self.name = name
        self.producer = Producer(kafka_config(bootstrap, **{
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            "message.timeout.ms": 60000,
            "request.timeout.ms": 5000,
            "metadata.max.age.ms": 5000,
            "topic.metadata.refresh.interval.ms": 1000,
        }))
        self.lock = threading.Lock()
        self.enqueued_at = {}  # value -> monotonic time of produce()
        self.acked = []  # (partition, offset, value, ack monotonic time)
        self.errors = []  # (partition, value, KafkaError)
        self.stop_event = threading.Event()
        self.failure = None
        self.remaining = None
        self.thread = threading.Thread(target=self._run, name=f"load-{name}", daemon=True)

    def _on_delivery(self, err, msg):
        now = time.monotonic()
        with self.lock:
            if err is None:
                self.acked.append((msg.partition(), msg.offset(), msg.value(), now))
            else:
                self.errors.append((msg.partition(), msg.value(), err))

    def _run(self):
        try:
            seq = 0
            while not self.stop_event.is_set():
                partition = seq % self.partitions
                value = f"{self.name}-{seq:08d}".encode()
                with self.lock:
                    self.enqueued_at[value] = time.monotonic()
                while True:
                    try:
                        self.producer.produce(self.topic, value=value, partition=partition,
                                              on_delivery=self._on_delivery)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                seq += 1
                self.producer.poll(0)
                time.sleep(0.003)
            self.remaining = self.producer.flush(90)
        except Exception as e:  # reported by the test thread
            self.failure = e

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(120)
        assert not self.thread.is_alive(), f"producer {self.name} did not finish flushing within 120 s"
        assert self.failure is None, f"producer {self.name} failed: {self.failure!r}"
        assert self.remaining == 0, f"producer {self.name}: {self.remaining} messages without a delivery report"

    def acks_after(self, t, partition):
        """Acknowledgements on `partition` of messages produced after monotonic time t."""
        with self.lock:
            return [a for a in self.acked if a[0] == partition and self.enqueued_at[a[2]] > t]


def test_leader_failover_keeps_every_acknowledged_message_exactly_once_in_order(cluster, report_figure):
    partitions = 3
    topic = create_topic(cluster, unique_topic("failover"), partitions=partitions)
    victim = cluster.leader_of(topic, 0)
    assert victim in cluster.nodes, f"partition 0 has no leader before the kill: {victim}"

    loads = [IdempotentLoad(cluster.bootstrap, topic, partitions, f"prod{i}") for i in range(2)]
    for load in loads:
        load.start()
    try:
        wait_until(lambda: all(len(load.acks_after(0, 0)) >= 50 for load in loads), 60,
                   what="50 acknowledgements on partition 0 per producer before the kill")

        killed_at = time.monotonic()
        cluster.kill(victim)

        def first_ack_after_kill():
            acks = [a for load in loads for a in load.acks_after(killed_at, 0)]
            return min(a[3] for a in acks) if acks else None

        deadline = killed_at + 60
        while (first := first_ack_after_kill()) is None:
            assert time.monotonic() < deadline, (
                f"no acknowledgement on {topic}-0 within 60 s after SIGKILL of its leader, node {victim}; "
                f"Metadata leader now {cluster.leader_of(topic, 0)}")
            time.sleep(0.05)
        report_figure("failover gap (SIGKILL of partition 0 leader to first ack of a message produced after it)",
                      f"{(first - killed_at) * 1000:.0f} ms")
        report_figure("new leader of partition 0", f"node {cluster.leader_of(topic, 0)} (was node {victim})")

        # Keep producing a little on the new leaders, so the tail is written without the victim.
        wait_until(lambda: all(len(load.acks_after(first, 0)) >= 50 for load in loads), 60,
                   what="50 more acknowledgements on partition 0 per producer after the failover")
    finally:
        for load in loads:
            load.stop_event.set()
    for load in loads:
        load.stop()

    cluster.start(victim)
    cluster.wait_fully_replicated(topic, partitions, timeout_s=60)
    cluster.wait_agreed_leaders(topic, partitions)

    for load in loads:
        assert not load.errors, (
            f"producer {load.name}: {len(load.errors)} delivery errors (message.timeout.ms=60000 should outlast a "
            f"failover), first: {load.errors[:3]}")

    read = read_partitions(cluster.bootstrap, topic, range(partitions), timeout_s=90,
                           project=lambda m: (m.offset(), m.value()))
    counts = collections.Counter(v for records in read.values() for _, v in records)
    duplicates = {v: n for v, n in counts.items() if n > 1}
    assert not duplicates, f"values written more than once (idempotent producer): {list(duplicates.items())[:5]}"

    total_acked = 0
    for load in loads:
        for p in range(partitions):
            acked = sorted((a for a in load.acked if a[0] == p), key=lambda a: a[1])
            total_acked += len(acked)
            at_offset = dict(read[p])
            for _, offset, value, _ in acked:
                assert at_offset.get(offset) == value, (
                    f"{topic}-{p} offset {offset}: acknowledged {value!r} but the log has {at_offset.get(offset)!r}")
            # Acknowledged in offset order = produced in sequence order.
            seqs = [int(v.split(b"-")[1]) for _, _, v, _ in acked]
            assert seqs == sorted(seqs), f"{load.name} on partition {p}: acknowledged values out of production order"
            logged = [int(v.split(b"-")[1]) for _, v in read[p] if v.startswith(load.name.encode() + b"-")]
            assert logged == sorted(logged), f"{load.name} on partition {p}: log order differs from production order"
    report_figure("acknowledged messages checked", total_acked)


def test_two_of_three_down_refuses_acks_all_then_resumes_with_a_second_node(cluster):
    partitions = 3
    topic = create_topic(cluster, unique_topic("quorum"), partitions=partitions)
    survivor, down = 1, (2, 3)
    for node_id in down:
        cluster.stop(node_id)

    first = messages_for("alone", partitions, 10)
    acked, errors = produce_all(cluster.nodes[survivor].bootstrap, topic, first, timeout_s=60,
                                message_timeout_ms=5000, request_timeout_ms=2000)
    assert acked == [], (
        f"{len(acked)} acks=all produce(s) acknowledged with only node {survivor} of 3 running: "
        f"{[(p, o) for p, o, _, _ in acked[:5]]}")
    assert len(errors) == len(first), f"{len(errors)} delivery errors for {len(first)} messages"
    print(f"delivery errors with one node: {collections.Counter(str(e.name()) for *_, e in errors)}")

    cluster.start(down[0])
    running = [survivor, down[0]]
    for p in range(partitions):
        cluster.wait_for_leader(topic, p, timeout_s=60)

    second = messages_for("pair", partitions, 20)
    acked, errors = produce_all(cluster.bootstrap_of(running), topic, second, timeout_s=90,
                                message_timeout_ms=60000, enable_idempotence=True)
    assert not errors, f"acks=all with nodes {running} running: {len(errors)} delivery errors, first {errors[:3]}"
    assert len(acked) == len(second)

    cluster.wait_agreed_leaders(topic, partitions)
    read = read_partitions(cluster.bootstrap_of(running), topic, range(partitions))
    expected = by_partition(second, partitions)
    first_values = {v for _, _, v in first}
    for p in range(partitions):
        # Failed deliveries of the first batch are ambiguous (a timeout may hide an append that commits once a
        # second node returns), so they may appear; nothing else may.
        pair = [(k, v) for k, v in read[p] if v not in first_values]
        assert pair == expected[p], (
            f"partition {p}: read {len(pair)} messages of the second batch, expected {len(expected[p])} in order")
    leftover = sum(1 for records in read.values() for _, v in records if v in first_values)
    print(f"messages of the failed batch found in the log afterwards: {leftover} of {len(first)}")


def test_wiped_node_rejoins_and_alone_holds_data_the_restarted_pair_serves(cluster):
    """A node whose data dir is deleted rejoins with the same node.id and catches up by replication, and its
    copy is the one served in the end.

    Argument. After the wiped node X is back in every ISR (as every running node's own Metadata says, X's
    included), stop another node A and produce M more messages to
    every partition with acks=all: with A down, min.insync.replicas=2 means each of them is durable on X and on
    the third node B, and X could only append them on top of the whole log prefix (Raft log matching), so X
    now holds all N+M messages. Then stop B and start A. The running pair is X + A and A lacks the M
    committed messages, so A cannot become leader of any partition (Raft §5.4.1: X refuses to vote for a log
    less up to date than its own; in Kafka's terms A is out of the ISR and unclean election is off). X must
    lead every partition, so reading all N+M messages back from X + A reads X's copy, including the N
    messages it only ever got by catching up. Comparing file sizes on disk would not prove the bytes are
    right; reading through X does.
    """
    partitions = 3
    topic = create_topic(cluster, unique_topic("wipe"), partitions=partitions)
    before = messages_for("before", partitions, 100)
    acked, errors = produce_all(cluster.bootstrap, topic, before, enable_idempotence=True)
    assert not errors and len(acked) == len(before), f"initial produce: {len(errors)} errors"

    x = cluster.leader_of(topic, 0)  # the leader: wiping it also forces a leader change
    a, b = [n for n in cluster.nodes if n != x]
    wiped_at = time.monotonic()
    cluster.wipe(x)

    def x_in_every_isr():
        # Every running node's own Metadata, X's included: a leader for each partition and X in its ISR.
        views = cluster.views(topic)
        return all(isinstance(v, dict) and len(v) == partitions and
                   all(leader >= 0 and x in isr for leader, _, isr in v.values()) for v in views.values())

    wait_until(x_in_every_isr, 60, interval_s=0.5,
               what=f"wiped node {x} back in the ISR of every partition of {topic}")
    print(f"node {x} wiped; in every ISR {time.monotonic() - wiped_at:.1f} s after the wipe: {cluster.views(topic)}")

    cluster.stop(a)
    for p in range(partitions):
        cluster.wait_for_leader(topic, p, not_in=(a,), timeout_s=60)
    after = messages_for("after", partitions, 20)
    acked, errors = produce_all(cluster.bootstrap_of([x, b]), topic, after, timeout_s=90,
                                message_timeout_ms=60000, enable_idempotence=True)
    assert not errors and len(acked) == len(after), (
        f"acks=all with nodes {x} (wiped, caught up) and {b} running: {len(errors)} errors, first {errors[:3]}")

    cluster.stop(b)
    cluster.start(a)
    print(f"per-node Metadata right after node {a} is ready again: {cluster.views(topic)}")
    leaders = cluster.wait_agreed_leaders(topic, partitions, timeout_s=60)
    for p, leader in leaders.items():
        assert leader == x, (
            f"partition {p}: node {a} (missing {len(after) // partitions} committed messages) leads instead of "
            f"node {x}")

    read = read_partitions(cluster.bootstrap_of([x, a]), topic, range(partitions), timeout_s=60)
    expected = by_partition(before + after, partitions)
    for p in range(partitions):
        assert read[p] == expected[p], (
            f"partition {p} read through node {x}: {len(read[p])} messages, expected {len(expected[p])} "
            f"(N={len(before) // partitions} before the wipe, M={len(after) // partitions} after)")
    sizes = {n: [cluster.nodes[n].partition_dir_bytes(topic, p) for p in range(partitions)] for n in (x, a, b)}
    print(f"on-disk bytes per partition dir (node {x} wiped): {sizes}")


def test_full_restart_keeps_topics_configs_and_messages(cluster):
    partitions = 3
    configs = {
        unique_topic("keep-delete"): {"retention.ms": "86400000", "cleanup.policy": "delete"},
        unique_topic("keep-compact"): {"cleanup.policy": "compact", "retention.ms": "172800000"},
    }
    written = {}
    for topic, config in configs.items():
        create_topic(cluster, topic, partitions=partitions, config=config)
        msgs = messages_for(topic, partitions, 50)  # unique keys: compaction removes nothing
        acked, errors = produce_all(cluster.bootstrap, topic, msgs, enable_idempotence=True)
        assert not errors and len(acked) == len(msgs), f"{topic}: {len(errors)} delivery errors"
        written[topic] = by_partition(msgs, partitions)

    codes = {n: cluster.stop(n) for n in cluster.nodes}
    print(f"exit codes after SIGTERM: {codes}")
    cluster.start_all(timeout_s=60)

    md = cluster.metadata()
    for topic in configs:
        assert topic in md.topics, f"{topic} missing from Metadata after a full restart: {sorted(md.topics)}"
        cluster.wait_fully_replicated(topic, partitions, timeout_s=60)
        cluster.wait_agreed_leaders(topic, partitions)

    admin = admin_client(cluster.bootstrap)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in configs]
    described = {r.name: f.result(timeout=30) for r, f in admin.describe_configs(resources).items()}
    for topic, config in configs.items():
        for key, value in config.items():
            entry = described[topic].get(key)
            assert entry is not None and entry.value == value, (
                f"{topic} {key}: {entry.value if entry else None!r} after the restart, set to {value!r}")

    for topic, expected in written.items():
        read = read_partitions(cluster.bootstrap, topic, range(partitions))
        for p in range(partitions):
            assert read[p] == expected[p], f"{topic}-{p}: {len(read[p])} messages after restart, expected {len(expected[p])}"


def test_paused_leader_is_replaced_and_rejoins_after_resume(cluster, report_figure):
    """A leader that hangs (SIGSTOP: sockets open, nothing answered) loses its partitions to the other two;
    after SIGCONT it rejoins as a follower and acks=all keeps working with all three."""
    partitions = 3
    topic = create_topic(cluster, unique_topic("pause"), partitions=partitions)
    victim = cluster.leader_of(topic, 0)
    cluster.pause(victim)
    paused_at = time.monotonic()
    others = [n for n in cluster.nodes if n != victim]
    new_leader = wait_until(
        lambda: (lambda ld: ld if ld in others else None)(cluster.leader_of(topic, 0, node_ids=others)), 60,
        what=f"a leader of {topic}-0 other than paused node {victim}")
    report_figure("time to a new leader after SIGSTOP", f"{(time.monotonic() - paused_at) * 1000:.0f} ms")
    msgs = messages_for("paused", partitions, 10)
    acked, errors = produce_all(cluster.bootstrap_of(others), topic, msgs, timeout_s=90, message_timeout_ms=60000)
    assert not errors and len(acked) == len(msgs), f"{len(errors)} errors with node {victim} paused"
    cluster.resume(victim)
    cluster.wait_ready(timeout_s=60)
    cluster.wait_fully_replicated(topic, partitions, timeout_s=60)
    cluster.wait_agreed_leaders(topic, partitions)
    read = read_partitions(cluster.bootstrap, topic, range(partitions))
    assert read == by_partition(msgs, partitions), f"after resume of node {victim} (new leader was {new_leader})"
