"""Four independent client implementations against a three-node cluster: each produces to an RF=3 topic with
acks=all, and each reads the whole topic back; every reader must see exactly the bytes every writer wrote, in
per-partition production order, wherever the partition leaders are."""

import json
import shutil
import subprocess
import time

import pytest

from conftest import CLUSTER_DIR, JS_NODE_MODULES, create_topic, produce_all, read_partitions, unique_topic

PARTITIONS = 6
PER_CLIENT = 30  # 5 per partition


def payloads(client, binary_ok=True):
    """[(partition, key, value)] for one client: distinct bytes per client and message, spread over every
    partition; keys sometimes absent (None) where the client can send a null key."""
    out = []
    for i in range(PER_CLIENT):
        partition = i % PARTITIONS
        key = None if (binary_ok and i % 5 == 0) else f"{client}-k{i}".encode()
        tail = bytes([0, 1, 0x7F, 0x80, 0xFE, 0xFF, i]) if binary_ok else b"plain"
        value = f"{client}-v{i}-".encode() + tail + b"x" * (i * 37 % 300)
        out.append((partition, key, value))
    return out


def kcat_payloads():
    # kcat reads lines and splits the key at '|': no newline or '|' in the bytes, and always a key.
    out = []
    for i in range(PER_CLIENT):
        value = f"kcat-v{i}-".encode() + bytes([0, 1, 0x7F, 0x80, 0xFE, 0xFF, 0x09]) + b"y" * (i * 41 % 300)
        assert b"\n" not in value and b"|" not in value
        out.append((i % PARTITIONS, f"kcat-k{i}".encode(), value))
    return out


def expected_by_partition(*batches):
    out = {p: [] for p in range(PARTITIONS)}
    for batch in batches:
        for partition, key, value in batch:
            out[partition].append((key, value))
    return out


def run(cmd, stdin=b"", timeout_s=120, cwd=None):
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s, cwd=cwd)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd[:4]))} ... exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return proc.stdout


# --- kcat ----------------------------------------------------------------------------------------------


def kcat_produce(bootstrap, topic, messages):
    for partition in range(PARTITIONS):
        lines = [k + b"|" + v for p, k, v in messages if p == partition]
        run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", "|", "-X", "acks=all"],
            stdin=b"\n".join(lines) + b"\n")


def kcat_consume(bootstrap, topic):
    """All partitions from the beginning to the end, parsed by length (so any byte may appear)."""
    out = run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%p %o %K %S:%k%s\n"])
    got = {p: [] for p in range(PARTITIONS)}
    pos = 0
    while pos < len(out):
        colon = out.index(b":", pos)
        partition, offset, key_len, value_len = (int(x) for x in out[pos:colon].split(b" "))
        pos = colon + 1
        key = None if key_len < 0 else out[pos:pos + key_len]
        pos += max(key_len, 0)
        value = out[pos:pos + value_len]
        pos += value_len
        assert out[pos:pos + 1] == b"\n", f"kcat output not as formatted at byte {pos}"
        pos += 1
        got[partition].append((offset, key, value))
    for p, records in got.items():
        assert [o for o, _, _ in records] == sorted(o for o, _, _ in records), f"kcat partition {p} out of order"
    return {p: [(k, v) for _, k, v in records] for p, records in got.items()}


# --- kafka-python --------------------------------------------------------------------------------------


def kafka_python_produce(bootstrap, topic, messages):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", retries=20,
                             max_in_flight_requests_per_connection=1, request_timeout_ms=30000)
    try:
        for partition, key, value in messages:
            producer.send(topic, key=key, value=value, partition=partition).get(timeout=60)
    finally:
        producer.close()


def kafka_python_consume(bootstrap, topic):
    import time

    from kafka import KafkaConsumer, TopicPartition

    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        got = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, (
                f"kafka-python read timed out after 60 s: positions "
                f"{ {tp.partition: consumer.position(tp) for tp in tps} } ends { {tp.partition: e for tp, e in ends.items()} }"
            )
            for tp, records in consumer.poll(timeout_ms=1000).items():
                got[tp.partition].extend((r.key, r.value) for r in records)
        return got
    finally:
        consumer.close()


# --- kafkajs -------------------------------------------------------------------------------------------


def kafkajs_produce(bootstrap, topic, messages):
    body = json.dumps([{"partition": p, "key": None if k is None else k.hex(), "value": v.hex()}
                       for p, k, v in messages]).encode()
    run(["node", str(CLUSTER_DIR / "kafkajs_client.mjs"), "produce", bootstrap, topic], stdin=body)


def kafkajs_consume(bootstrap, topic, count):
    out = run(["node", str(CLUSTER_DIR / "kafkajs_client.mjs"), "consume", bootstrap, topic, str(count)])
    records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    got = {p: [] for p in range(PARTITIONS)}
    for r in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        key = None if r["key"] is None else bytes.fromhex(r["key"])
        got[r["partition"]].append((key, bytes.fromhex(r["value"])))
    return got


# --- confluent-kafka -----------------------------------------------------------------------------------


def confluent_produce(bootstrap, topic, messages):
    acked, errors = produce_all(bootstrap, topic, messages, enable_idempotence=True)
    assert not errors, f"confluent-kafka delivery errors: {errors[:5]}"
    assert len(acked) == len(messages)


def confluent_consume(bootstrap, topic):
    return read_partitions(bootstrap, topic, range(PARTITIONS))


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (apt-get install kcat)")
@pytest.mark.skipif(shutil.which("node") is None or not (JS_NODE_MODULES / "kafkajs").is_dir(),
                    reason="node or kafkajs missing (run `npm ci` in cluster-tests/interop/js)")
def test_clients_rf3_round_trip_exact_bytes_with_kcat_confluent_kafka_python_and_kafkajs(cluster):
    topic = create_topic(cluster, unique_topic("rf3"), partitions=PARTITIONS, replication_factor=3)
    parts = cluster.partitions(topic)
    for p, pm in parts.items():
        assert sorted(pm.replicas) == [1, 2, 3], f"partition {p} replicas {pm.replicas}, expected all three nodes"
    leaders = sorted({pm.leader for pm in parts.values()})
    print(f"{topic} partition leaders: { {p: pm.leader for p, pm in sorted(parts.items())} }")

    batches = {
        "kcat": kcat_payloads(),
        "confluent-kafka": payloads("ck"),
        "kafka-python": payloads("kp"),
        "kafkajs": payloads("js"),
    }
    kcat_produce(cluster.bootstrap, topic, batches["kcat"])
    confluent_produce(cluster.bootstrap, topic, batches["confluent-kafka"])
    kafka_python_produce(cluster.bootstrap, topic, batches["kafka-python"])
    kafkajs_produce(cluster.bootstrap, topic, batches["kafkajs"])
    expected = expected_by_partition(*batches.values())
    total = sum(len(v) for v in expected.values())

    readers = {
        "kcat": lambda: kcat_consume(cluster.bootstrap, topic),
        "confluent-kafka": lambda: confluent_consume(cluster.bootstrap, topic),
        "kafka-python": lambda: kafka_python_consume(cluster.bootstrap, topic),
        "kafkajs": lambda: kafkajs_consume(cluster.bootstrap, topic, total),
    }
    for name, read in readers.items():
        got = read()
        for p in range(PARTITIONS):
            assert got[p] == expected[p], (
                f"{name} read partition {p} (leader {parts[p].leader}, cluster leaders {leaders}): "
                f"{len(got[p])} records, expected {len(expected[p])}; first difference at index "
                f"{next((i for i, (a, b) in enumerate(zip(got[p], expected[p])) if a != b), min(len(got[p]), len(expected[p])))}"
            )


def test_a_position_past_the_end_is_out_of_range_on_a_replicated_partition(cluster):
    """A leader confirms with a quorum that it still leads before it answers OFFSET_OUT_OF_RANGE (a deposed
    leader answers NOT_LEADER_OR_FOLLOWER instead); a leader that does lead must still say out of range, so a
    consumer with auto.offset.reset=error gets _AUTO_OFFSET_RESET and one with `earliest` reads from 0."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    from conftest import consumer_config

    topic = unique_topic("oor")
    create_topic(cluster, topic, partitions=1)
    acked, errors = produce_all(cluster.bootstrap, topic, [(0, None, f"v{i}".encode()) for i in range(5)])
    assert errors == [] and len(acked) == 5

    c = Consumer(consumer_config(cluster.bootstrap))
    try:
        c.assign([TopicPartition(topic, 0, 1000)])
        seen = None
        deadline = time.monotonic() + 30
        while seen is None and time.monotonic() < deadline:
            for m in c.consume(num_messages=10, timeout=0.5):
                if m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF:
                    seen = m.error()
        assert seen is not None, "no error for a position past the end within 30 s"
        assert seen.code() == KafkaError._AUTO_OFFSET_RESET, seen
        assert "out of range" in seen.str().lower(), seen
    finally:
        c.close()

    c = Consumer(consumer_config(cluster.bootstrap, **{"auto.offset.reset": "earliest"}))
    try:
        c.assign([TopicPartition(topic, 0, 1000)])
        values = []
        deadline = time.monotonic() + 30
        while len(values) < 5 and time.monotonic() < deadline:
            for m in c.consume(num_messages=10, timeout=0.5):
                if m.error() is None:
                    values.append(m.value())
        assert values == [f"v{i}".encode() for i in range(5)]
    finally:
        c.close()
