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


@pytest.mark.timeout(180)
def test_100k_updates_over_1k_keys_shrink_to_1k_live_records_and_a_tombstone_disappears(broker_factory):
    broker = broker_factory({"log.cleaner.backoff.ms": "500"})
    topic = create_topic(broker.bootstrap, unique_topic("compact-100k"), config={
        "cleanup.policy": "compact", "segment.bytes": "65536", "segment.ms": "3000",
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "3000"})
    keys = [b"key-%04d" % i for i in range(1000)]
    records = [(keys[i % 1000], b"v%06d" % i) for i in range(100_000)]
    records.append((keys[0], None))  # tombstone for key-0000
    acked, errors = produce_all(broker.bootstrap, topic, records)
    assert errors == [] and len(acked) == len(records)
    latest = {}
    for offset in sorted(acked):
        latest[acked[offset][0]] = (offset, acked[offset][1])
    # Roll the active segment (segment.ms) so the last updates become cleanable too.
    time.sleep(3.5)
    roll, errors = produce_all(broker.bootstrap, topic, [(b"roll", b"x")])
    assert errors == []

    def read_all():
        return read_partitions(broker.bootstrap, topic, [0], project=lambda m: (m.offset(), m.key(), m.value()))[0]

    def live_records_without_tombstone():
        got = read_all()
        return got if len(got) <= 1001 and all(k != keys[0] for _, k, _ in got) else None

    kept = wait_until(live_records_without_tombstone, 90, interval_s=2.0,
                      what="~1k live records and the tombstoned key gone after delete.retention.ms")
    by_key = {k: (o, v) for o, k, v in kept}
    assert len(kept) == len(by_key), "a key appears twice after cleaning"
    for key in keys[1:]:
        assert by_key[key] == latest[key], f"{key!r}: latest value lost or replaced"
    assert keys[0] not in by_key
    assert by_key[b"roll"] == (list(roll)[0], b"x")
    assert len(kept) == 1000  # 999 live keys + the roll record
