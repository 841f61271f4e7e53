"""Consumer-group state in __consumer_offsets against a real riffle: committed offsets survive a broker restart
(a consumer of the same group resumes from them), the records are in Kafka's key/value formats in the group's
partition (abs(Java hashCode) % 50), kcat can read the topic, and a deleted group stays deleted after a kill -9."""

import shutil
import struct
import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from conftest import admin_client, create_topic, kafka_config, unique_topic

OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_PARTITIONS = 50


def java_hashcode(s):
    h = 0
    utf16 = s.encode("utf-16-be")
    for i in range(0, len(utf16), 2):
        h = (31 * h + int.from_bytes(utf16[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def group_partition(group, partitions=OFFSETS_PARTITIONS):
    """Kafka's partitionFor: Utils.abs(groupId.hashCode()) % partitions (Utils.abs(MIN_VALUE) == 0)."""
    h = java_hashcode(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def produce(bootstrap, topic, partitions, per_partition):
    producer = Producer({**kafka_config(bootstrap), "acks": "all"})
    for p in range(partitions):
        for i in range(per_partition):
            producer.produce(topic, value=b"m%d-%04d" % (p, i), partition=p)
    assert producer.flush(30) == 0


def group_consumer(bootstrap, group):
    return Consumer({**kafka_config(bootstrap), "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 10000})


def consume_until(consumer, count, timeout_s=60):
    """Polls until `count` messages arrived; returns [(partition, offset)]."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages within {timeout_s}s"
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append((msg.partition(), msg.offset()))
    return got


def read_offsets_topic(bootstrap, partition):
    """(key, value) of every record in one __consumer_offsets partition, read with assign()."""
    consumer = Consumer({**kafka_config(bootstrap), "group.id": unique_topic("reader"),
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(OFFSETS_TOPIC, partition), timeout=10)
        consumer.assign([TopicPartition(OFFSETS_TOPIC, partition, OFFSET_BEGINNING)])
        out = []
        deadline = time.monotonic() + 30
        while len(out) < high:
            assert time.monotonic() < deadline, f"read {len(out)} of {high} records of {OFFSETS_TOPIC}-{partition}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            out.append((msg.key(), msg.value()))
        return out
    finally:
        consumer.close()


def string16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def offset_commit_key(group, topic, partition):
    """OffsetCommitKey v1: version, group, topic, partition."""
    return struct.pack(">h", 1) + string16(group) + string16(topic) + struct.pack(">i", partition)


def test_committed_offsets_survive_restart_and_consumer_resumes_from_them(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=2)
    produce(broker.bootstrap, topic, 2, 100)
    group = unique_topic("durable-group")
    consumer = group_consumer(broker.bootstrap, group)
    try:
        consumer.subscribe([topic])
        consume_until(consumer, 10)
        consumer.commit(offsets=[TopicPartition(topic, 0, 30), TopicPartition(topic, 1, 60)], asynchronous=False)
    finally:
        consumer.close()

    broker.restart()

    consumer = group_consumer(broker.bootstrap, group)
    try:
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 30), (1, 60)]
        consumer.subscribe([topic])
        got = consume_until(consumer, 70 + 40)
        first = {p: min(o for q, o in got if q == p) for p in (0, 1)}
        assert first == {0: 30, 1: 60}, "the consumer resumes from the committed offsets, not from the beginning"
        assert sorted(got) == [(0, o) for o in range(30, 100)] + [(1, o) for o in range(60, 100)]
    finally:
        consumer.close()


def test_commit_records_are_in_kafkas_format_in_the_groups_partition(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    group = unique_topic("format-group")
    consumer = group_consumer(broker.bootstrap, group)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.commit(offsets=[TopicPartition(topic, 0, 42)], asynchronous=False)
    finally:
        consumer.close()

    md = admin_client(broker.bootstrap).list_topics(topic=OFFSETS_TOPIC, timeout=10)
    assert len(md.topics[OFFSETS_TOPIC].partitions) == OFFSETS_PARTITIONS
    partition = group_partition(group)
    records = read_offsets_topic(broker.bootstrap, partition)
    values = [v for k, v in records if k == offset_commit_key(group, topic, 0)]
    assert len(values) == 1, f"one offset commit record for the group in partition {partition}: {records!r}"
    version, offset, leader_epoch = struct.unpack_from(">hqi", values[0])
    assert (version, offset) == (3, 42)
    (metadata_len,) = struct.unpack_from(">h", values[0], 14)
    (commit_timestamp,) = struct.unpack_from(">q", values[0], 16 + metadata_len)
    assert abs(commit_timestamp - time.time() * 1000) < 600_000
    assert len(values[0]) == 24 + metadata_len


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
def test_kcat_reads_consumer_offsets_records(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    group = unique_topic("kcat-group")
    consumer = group_consumer(broker.bootstrap, group)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    finally:
        consumer.close()
    proc = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", OFFSETS_TOPIC, "-e", "-f", "%p %o %K %S\n"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = [line.split() for line in proc.stdout.decode().splitlines() if line.strip()]
    key_len = len(offset_commit_key(group, topic, 0))
    assert [str(group_partition(group)), "0", str(key_len), "24"] in lines, lines
    # Key: version 1, group, topic, partition; value v3 with empty metadata: 2 + 8 + 4 + 2 + 8 bytes.


def test_deleted_group_stays_deleted_after_kill9(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    kept, deleted = unique_topic("kept"), unique_topic("deleted")
    for group, offset in ((kept, 5), (deleted, 9)):
        consumer = group_consumer(broker.bootstrap, group)
        try:
            consumer.assign([TopicPartition(topic, 0)])
            consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
        finally:
            consumer.close()
    admin = admin_client(broker.bootstrap)
    admin.delete_consumer_groups([deleted], request_timeout=10)[deleted].result(timeout=10)

    # Commits and the deletion were acknowledged only once durable: a kill -9 right away loses nothing.
    broker.kill9()
    broker.start()

    def committed(group):
        consumer = group_consumer(broker.bootstrap, group)
        try:
            return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        finally:
            consumer.close()

    assert committed(kept) == 5
    assert committed(deleted) < 0, "a deleted group's offsets are gone after a restart"
    admin = admin_client(broker.bootstrap)  # kept alive until the result is in
    listed = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
    assert not listed.errors, listed.errors
    ids = {g.group_id for g in listed.valid}
    assert kept in ids and deleted not in ids, ids
