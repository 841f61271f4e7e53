"""confluent-kafka (librdkafka) against a real riffle: admin, produce with every codec, consume exact bytes,
ListOffsets, idempotence, DeleteTopics, DeleteRecords, and a consumer group."""

import random
import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, OffsetSpec

from conftest import admin_client, create_topic, kafka_config, read_partitions, unique_topic, wait_until, watermarks

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def sample_records(count, seed):
    """(key, value, headers) triples with binary keys/values, a null key, a null value and repeated headers."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        key = None if i % 7 == 3 else b"k%04d-" % i + bytes(rng.randrange(256) for _ in range(4))
        value = None if i % 11 == 5 else bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        headers = [("h-index", b"%d" % i), ("h-bin", bytes([0, 255, i % 256])), ("h-index", b"again")]
        if i % 5 == 0:
            headers = []
        records.append((key, value, headers))
    return records


def produce_all(bootstrap, topic, records, partition=0, **config):
    """Produces records to one partition, flushes, and returns delivery reports [(err, offset)] in send order."""
    producer = Producer({**kafka_config(bootstrap), "acks": "all", **config})
    reports = [None] * len(records)

    def on_delivery(index):
        def callback(err, msg):
            reports[index] = (err, msg.offset())

        return callback

    for index, (key, value, headers) in enumerate(records):
        producer.produce(topic, value=value, key=key, headers=headers, partition=partition,
                         on_delivery=on_delivery(index))
        producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} messages still undelivered after 60 s"
    return reports


def source_of(entry):
    return int(getattr(entry.source, "value", entry.source))


def headers_of(msg):
    return msg.headers() or []


def test_create_topic_with_configs_then_describe_configs_returns_them(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=3,
                         config={"retention.ms": "3600000", "cleanup.policy": "delete", "segment.bytes": "1048576"})
    admin = admin_client(broker.bootstrap)
    md = admin.list_topics(timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    assert entries["retention.ms"].value == "3600000"
    assert source_of(entries["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["cleanup.policy"].value == "delete"
    assert entries["segment.bytes"].value == "1048576"
    # A config the topic did not set reports the broker default (Kafka: min.insync.replicas defaults to 1).
    assert entries["min.insync.replicas"].value == "1"
    assert source_of(entries["min.insync.replicas"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_create_topic_validate_only_does_not_create_it(broker):
    admin = admin_client(broker.bootstrap)
    topic = unique_topic()
    futures = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)], validate_only=True)
    assert futures[topic].result(timeout=10) is None
    time.sleep(1)
    assert topic not in admin.list_topics(timeout=10).topics


@pytest.mark.parametrize(
    "name, config, error_code",
    [
        ("bad/name", {}, KafkaError.TOPIC_EXCEPTION),
        ("a" * 250, {}, KafkaError.TOPIC_EXCEPTION),
        (".", {}, KafkaError.TOPIC_EXCEPTION),
        (None, {"retention.ms": "abc"}, KafkaError.INVALID_CONFIG),
        (None, {"cleanup.policy": "sideways"}, KafkaError.INVALID_CONFIG),
        (None, {"no.such.config": "1"}, KafkaError.INVALID_CONFIG),
    ],
    ids=["slash-in-name", "name-over-249-chars", "dot-name", "retention-ms-abc", "bad-cleanup-policy",
         "unknown-config"],
)
def test_create_topic_invalid_request_fails_with_documented_error(broker, name, config, error_code):
    admin = admin_client(broker.bootstrap)
    topic = name or unique_topic()
    for validate_only in (True, False):
        futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=config)],
                                      validate_only=validate_only)
        with pytest.raises(KafkaException) as excinfo:
            futures[topic].result(timeout=10)
        assert excinfo.value.args[0].code() == error_code, f"validate_only={validate_only}: {excinfo.value}"
    assert topic not in admin.list_topics(timeout=10).topics


def test_create_existing_topic_fails_topic_already_exists(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    admin = admin_client(broker.bootstrap)  # keep a reference: a destroyed client fails its futures
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    with pytest.raises(KafkaException) as excinfo:
        futures[topic].result(timeout=10)
    assert excinfo.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_create_topic_with_zero_partitions_fails_invalid_partitions(broker):
    topic = unique_topic()
    admin = admin_client(broker.bootstrap)
    futures = admin.create_topics([NewTopic(topic, num_partitions=0, replication_factor=1)])
    with pytest.raises(KafkaException) as excinfo:
        futures[topic].result(timeout=10)
    assert excinfo.value.args[0].code() == KafkaError.INVALID_PARTITIONS


@pytest.mark.parametrize("codec", CODECS)
def test_produce_with_codec_then_assign_consume_returns_exact_bytes(broker, codec):
    topic = create_topic(broker.bootstrap, unique_topic(codec))
    records = sample_records(500, seed=codec)
    reports = produce_all(broker.bootstrap, topic, records, **{"compression.type": codec, "linger.ms": 20})
    assert [err for err, _ in reports if err is not None] == []
    assert [offset for _, offset in reports] == list(range(len(records)))

    got = read_partitions(broker.bootstrap, topic, [0])[0]
    assert [m.offset() for m in got] == list(range(len(records)))
    for msg, (key, value, headers) in zip(got, records):
        assert (msg.key(), msg.value(), headers_of(msg)) == (key, value, headers), f"offset {msg.offset()}"
        assert msg.timestamp()[0] == TIMESTAMP_CREATE_TIME


def test_produce_to_three_partitions_each_partition_reads_back_its_own_messages(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=3)
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all"})
    for i in range(300):
        producer.produce(topic, value=b"v%03d" % i, key=b"k%03d" % i, partition=i % 3)
    assert producer.flush(60) == 0
    got = read_partitions(broker.bootstrap, topic, [0, 1, 2])
    for p in range(3):
        assert [m.value() for m in got[p]] == [b"v%03d" % i for i in range(p, 300, 3)]
        assert [m.offset() for m in got[p]] == list(range(100))


def test_consumer_group_subscribe_reads_every_message_and_commits_offsets(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=2)
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all"})
    sent = {(i % 2, b"g%04d" % i) for i in range(200)}
    for partition, value in sorted(sent):
        producer.produce(topic, value=value, partition=partition)
    assert producer.flush(30) == 0

    group = unique_topic("group")
    consumer = Consumer({**kafka_config(broker.bootstrap), "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        seen = set()
        deadline = time.monotonic() + 60
        while len(seen) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            seen.add((msg.partition(), msg.value()))
        assert seen == sent
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 100), (1, 100)]
    finally:
        consumer.close()


def test_offsets_for_times_returns_first_offset_with_timestamp_at_or_after(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    base_ms = int(time.time() * 1000) - 3_600_000
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all", "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, value=b"t%d" % i, partition=0, timestamp=base_ms + i * 1000)
        producer.flush(10)  # one batch per message: the lookup must work inside and across batches alike
    consumer = Consumer({**kafka_config(broker.bootstrap), "group.id": unique_topic("g")})
    try:
        query = [TopicPartition(topic, 0, ts) for ts in (base_ms - 5, base_ms, base_ms + 2500, base_ms + 9000)]
        answers = [consumer.offsets_for_times([tp], timeout=10)[0] for tp in query]
        assert [tp.offset for tp in answers] == [0, 0, 3, 9]
        past_end = consumer.offsets_for_times([TopicPartition(topic, 0, base_ms + 60_000)], timeout=10)[0]
        assert past_end.offset == OFFSET_END  # Kafka answers -1 when no record is that late
    finally:
        consumer.close()


def test_idempotent_producer_writes_each_message_exactly_once_in_order(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=2)
    records = [(b"key%d" % (i % 10), b"idem-%06d" % i, []) for i in range(5000)]
    reports = produce_all(broker.bootstrap, topic, records, partition=1,
                          **{"enable.idempotence": True, "linger.ms": 5, "max.in.flight.requests.per.connection": 5})
    assert [err for err, _ in reports if err is not None] == []
    got = read_partitions(broker.bootstrap, topic, [0, 1])
    assert got[0] == []
    assert [m.value() for m in got[1]] == [v for _, v, _ in records]


def test_delete_topic_then_metadata_no_longer_lists_it(broker):
    admin = admin_client(broker.bootstrap)
    keep = create_topic(broker.bootstrap, unique_topic("keep"))
    doomed = create_topic(broker.bootstrap, unique_topic("doomed"), partitions=2)
    assert admin.delete_topics([doomed], operation_timeout=30)[doomed].result(timeout=30) is None
    wait_until(lambda: doomed not in admin.list_topics(timeout=10).topics, 15, what=f"{doomed} gone from Metadata")
    assert keep in admin.list_topics(timeout=10).topics
    # Deleting it again is UNKNOWN_TOPIC_OR_PARTITION.
    with pytest.raises(KafkaException) as excinfo:
        admin.delete_topics([doomed], operation_timeout=10)[doomed].result(timeout=10)
    assert excinfo.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_list_offsets_and_watermarks_report_earliest_zero_and_latest_count(broker):
    topic = create_topic(broker.bootstrap, unique_topic(), partitions=2)
    reports = produce_all(broker.bootstrap, topic, [(None, b"x%d" % i, []) for i in range(37)], partition=1)
    assert [offset for _, offset in reports] == list(range(37))

    admin = admin_client(broker.bootstrap)
    for spec, expected in ((OffsetSpec.earliest(), {0: 0, 1: 0}), (OffsetSpec.latest(), {0: 0, 1: 37})):
        request = {TopicPartition(topic, p): spec for p in (0, 1)}
        result = admin.list_offsets(request, request_timeout=10)
        assert {tp.partition: f.result(timeout=10).offset for tp, f in result.items()} == expected

    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 37)


def test_delete_records_advances_log_start_offset_and_hides_deleted_records(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    produce_all(broker.bootstrap, topic, [(None, b"d%d" % i, []) for i in range(10)])
    admin = admin_client(broker.bootstrap)
    result = admin.delete_records([TopicPartition(topic, 0, 5)], request_timeout=10)
    deleted = next(iter(result.values())).result(timeout=10)
    assert deleted.low_watermark == 5

    assert watermarks(broker.bootstrap, topic, 0) == (5, 10)
    got = read_partitions(broker.bootstrap, topic, [0])[0]
    assert [(m.offset(), m.value()) for m in got] == [(i, b"d%d" % i) for i in range(5, 10)]

    # Deleting beyond the high watermark is OFFSET_OUT_OF_RANGE.
    result = admin.delete_records([TopicPartition(topic, 0, 11)], request_timeout=10)
    with pytest.raises(KafkaException) as excinfo:
        next(iter(result.values())).result(timeout=10)
    assert excinfo.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_fetch_from_offset_below_log_start_resets_per_auto_offset_reset(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    produce_all(broker.bootstrap, topic, [(None, b"r%d" % i, []) for i in range(6)])
    admin = admin_client(broker.bootstrap)
    result = admin.delete_records([TopicPartition(topic, 0, 4)], request_timeout=10)
    assert next(iter(result.values())).result(timeout=10).low_watermark == 4
    got = read_partitions(broker.bootstrap, topic, [0], start_offsets={0: 1}, **{"auto.offset.reset": "earliest"})[0]
    assert [m.offset() for m in got] == [4, 5]


def test_metadata_for_unknown_topic_does_not_create_it_when_auto_create_disabled(broker):
    topic = unique_topic("missing")
    producer = Producer({**kafka_config(broker.bootstrap), "message.timeout.ms": 3000})
    errors = []
    producer.produce(topic, value=b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT), errors[0]
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=10).topics


def test_producer_auto_creates_topic_with_num_partitions_when_enabled(broker_factory):
    broker = broker_factory({"auto.create.topics.enable": "true", "num.partitions": "4"})
    topic = unique_topic("auto")
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all"})
    producer.produce(topic, value=b"first")
    assert producer.flush(30) == 0
    md = admin_client(broker.bootstrap).list_topics(timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2, 3]


def test_consume_from_offset_beginning_on_empty_partition_reports_eof_at_zero(broker):
    topic = create_topic(broker.bootstrap, unique_topic())
    consumer = Consumer({**kafka_config(broker.bootstrap), "group.id": unique_topic("g"),
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msg = wait_until(lambda: consumer.poll(0.5), 20, what="EOF event")
        assert msg.error() is not None and msg.error().code() == KafkaError._PARTITION_EOF
        assert msg.offset() == 0
    finally:
        consumer.close()
