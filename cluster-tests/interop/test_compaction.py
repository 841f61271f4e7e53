"""Log compaction (cleanup.policy=compact) seen through a real client: keyless records are refused with
INVALID_RECORD, and the cleaner keeps the latest value of every key at its original offset."""

import time

import pytest
from confluent_kafka import KafkaError, Producer

from conftest import create_topic, kafka_config, read_partitions, unique_topic, wait_until


def produce_all(bootstrap, topic, records, flush_every=None):
    """Produces (key, value) pairs to partition 0 (flushing every `flush_every` records, so each group
    becomes its own batch); returns {offset: (key, value)} and the delivery errors."""
    producer = Producer({**kafka_config(bootstrap), "acks": "all", "linger.ms": 5})
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[msg.offset()] = (msg.key(), msg.value())

    for i, (key, value) in enumerate(records):
        producer.produce(topic, key=key, value=value, partition=0, on_delivery=on_delivery)
        producer.poll(0)
        if flush_every and (i + 1) % flush_every == 0:
            producer.flush(30)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    return acked, errors


def test_keyless_record_on_compacted_topic_is_refused_with_invalid_record(broker):
    topic = create_topic(broker.bootstrap, unique_topic("compact-keyless"), config={"cleanup.policy": "compact"})
    acked, errors = produce_all(broker.bootstrap, topic, [(None, b"no key")])
    assert acked == {}
    assert len(errors) == 1 and errors[0].code() == KafkaError.INVALID_RECORD, errors
    acked, errors = produce_all(broker.bootstrap, topic, [(b"k", b"with key")])
    assert errors == [] and list(acked.values()) == [(b"k", b"with key")]


@pytest.mark.timeout(120)
def test_cleaner_keeps_latest_value_per_key_at_its_original_offset(broker_factory):
    broker = broker_factory({"log.cleaner.backoff.ms": "500"})
    topic = create_topic(broker.bootstrap, unique_topic("compact"), config={
        "cleanup.policy": "compact", "segment.bytes": "16384", "min.cleanable.dirty.ratio": "0.01"})
    keys = [b"key-%d" % i for i in range(10)]
    records = [(k, b"%s=%04d" % (k, r) + b"." * 100) for r in range(200) for k in keys]
    # One batch per round, so segments (16 KiB) roll and closed segments hold overwritten values.
    acked, errors = produce_all(broker.bootstrap, topic, records, flush_every=len(keys))
    assert errors == [] and len(acked) == len(records)
    latest = {}
    for offset in sorted(acked):
        key, _ = acked[offset]
        latest[key] = offset

    def compacted():
        got = read_partitions(broker.bootstrap, topic, [0], project=lambda m: (m.offset(), m.key(), m.value()))[0]
        return got if len(got) < len(records) // 2 else None

    kept = wait_until(compacted, 60, interval_s=1.0, what="the cleaner to remove overwritten values")
    offsets = [o for o, _, _ in kept]
    assert offsets == sorted(set(offsets)), "offsets must stay strictly increasing"
    for offset, key, value in kept:
        assert acked[offset] == (key, value), f"offset {offset} now holds another record"
    kept_offsets = set(offsets)
    for key, offset in latest.items():
        assert offset in kept_offsets, f"latest value of {key!r} (offset {offset}) was removed"
