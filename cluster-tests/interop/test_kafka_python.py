"""kafka-python (a pure-Python client with its own protocol code) against a real riffle: admin create_topics,
produce with each codec it supports, assign + seek_to_beginning consume, and offset lookups."""

import random
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd
from kafka.errors import InvalidTopicError, TopicAlreadyExistsError

from conftest import unique_topic, wait_until

CODECS = {
    None: lambda: True,
    "gzip": has_gzip,
    "snappy": has_snappy,
    "lz4": has_lz4,
    "zstd": has_zstd,
}


def admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-kafka-python", request_timeout_ms=10000)


def create_topic(bootstrap, name, partitions=1, configs=None):
    client = admin(bootstrap)
    try:
        client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                       topic_configs=configs or {})], timeout_ms=10000)
    finally:
        client.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        wait_until(lambda: consumer.partitions_for_topic(name) == set(range(partitions)), 20,
                   what=f"{name} in metadata")
    finally:
        consumer.close()
    return name


def assigned_consumer(bootstrap, topic, partitions):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    return consumer


def read_all(bootstrap, topic, partition, count, timeout_s=60):
    consumer = assigned_consumer(bootstrap, topic, [partition])
    try:
        consumer.seek_to_beginning()
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(records)
        return got
    finally:
        consumer.close()


def test_kafka_python_admin_create_topics_then_metadata_lists_partitions(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kp"), partitions=3, configs={"retention.ms": "86400000"})
    client = admin(broker.bootstrap)
    try:
        assert topic in client.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            client.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], timeout_ms=10000)
        with pytest.raises(InvalidTopicError):
            client.create_topics([NewTopic("bad/name", num_partitions=1, replication_factor=1)], timeout_ms=10000)
    finally:
        client.close()


@pytest.mark.parametrize("codec", list(CODECS), ids=lambda c: c or "none")
def test_kafka_python_produce_with_codec_then_seek_to_beginning_returns_exact_bytes(broker, codec):
    if not CODECS[codec]():
        pytest.skip(f"kafka-python has no {codec} library installed")
    topic = create_topic(broker.bootstrap, unique_topic("kp"))
    rng = random.Random(str(codec))
    records = [
        (b"key-%d" % i if i % 4 else None,
         bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
         [("idx", b"%d" % i), ("bin", bytes([i % 256, 0]))] if i % 3 else [])
        for i in range(300)
    ]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec, linger_ms=10)
    try:
        futures = [producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in records]
        producer.flush(timeout=60)
        offsets = [f.get(timeout=10).offset for f in futures]
    finally:
        producer.close()
    assert offsets == list(range(len(records)))

    got = read_all(broker.bootstrap, topic, 0, len(records))
    assert [r.offset for r in got] == list(range(len(records)))
    assert [(r.key, r.value, list(r.headers)) for r in got] == records


def test_kafka_python_offsets_for_times_and_beginning_end_offsets(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kp"), partitions=2)
    base_ms = int(time.time() * 1000) - 600_000
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        for i in range(20):
            producer.send(topic, value=b"ts%d" % i, partition=1, timestamp_ms=base_ms + i * 100).get(timeout=10)
    finally:
        producer.close()

    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    consumer = assigned_consumer(broker.bootstrap, topic, [0, 1])
    try:
        assert consumer.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
        assert consumer.end_offsets([tp0, tp1]) == {tp0: 0, tp1: 20}
        found = consumer.offsets_for_times({tp1: base_ms + 550})
        assert (found[tp1].offset, found[tp1].timestamp) == (6, base_ms + 600)
        assert consumer.offsets_for_times({tp1: base_ms})[tp1].offset == 0
        assert consumer.offsets_for_times({tp1: base_ms + 10_000})[tp1] is None
        assert consumer.offsets_for_times({tp0: base_ms})[tp0] is None
    finally:
        consumer.close()


def test_kafka_python_seek_to_offset_reads_from_there(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kp"))
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        for i in range(10):
            producer.send(topic, value=b"s%d" % i, partition=0)
        producer.flush(timeout=30)
    finally:
        producer.close()
    consumer = assigned_consumer(broker.bootstrap, topic, [0])
    try:
        consumer.seek(TopicPartition(topic, 0), 7)
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(records)
        assert [(r.offset, r.value) for r in got] == [(7, b"s7"), (8, b"s8"), (9, b"s9")]
    finally:
        consumer.close()
