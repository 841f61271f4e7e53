"""Time-based retention: closed segments older than retention.ms are deleted, the log start offset advances and
the partition directory shrinks."""

import os
import time

import pytest
from confluent_kafka import Producer

from conftest import create_topic, kafka_config, read_partitions, unique_topic, wait_until, watermarks


def partition_dir(log_dir, topic, partition):
    expected = log_dir / f"{topic}-{partition}"  # Kafka's layout: <log.dirs>/<topic>-<partition>
    if expected.is_dir():
        return expected
    candidates = [p for p in log_dir.rglob(f"*{topic}*") if p.is_dir()]
    listing = sorted(str(p.relative_to(log_dir)) for p in log_dir.rglob("*"))
    assert len(candidates) == 1, f"no single directory for {topic}-{partition} in {log_dir}: {listing[:50]}"
    return candidates[0]


def disk_usage_bytes(directory):
    """Allocated bytes (st_blocks), so that sparse pre-allocated index files count for what they occupy."""
    return sum(p.stat().st_blocks * 512 for p in directory.rglob("*") if p.is_file())


@pytest.mark.timeout(120)
def test_retention_ms_deletes_old_segments_and_advances_log_start(broker_factory, report_figure):
    broker = broker_factory({"log.retention.check.interval.ms": "1000"})
    topic = create_topic(broker.bootstrap, unique_topic("retention"),
                         config={"retention.ms": "10000", "segment.ms": "2000"})

    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all", "linger.ms": 5})
    value = os.urandom(2048)
    produce_start = time.monotonic()
    sent = 0
    while time.monotonic() - produce_start < 6.0:
        for _ in range(20):
            producer.produce(topic, value=value, key=b"%d" % sent, partition=0)
            sent += 1
        producer.poll(0)
        time.sleep(0.05)
    assert producer.flush(30) == 0
    produced_at = time.monotonic()

    directory = partition_dir(broker.log_dir, topic, 0)
    usage_before = disk_usage_bytes(directory)
    segments_before = sorted(p.name for p in directory.glob("*.log"))
    assert watermarks(broker.bootstrap, topic, 0) == (0, sent)

    low, high = wait_until(lambda: (lambda wm: wm if wm[0] > 0 else None)(watermarks(broker.bootstrap, topic, 0)),
                           30, interval_s=0.5, what="log start offset to advance")
    advanced_after_s = time.monotonic() - produced_at
    assert high == sent
    assert 0 < low <= sent

    usage_after = wait_until(lambda: (lambda u: u if u < usage_before else None)(disk_usage_bytes(directory)),
                             10, interval_s=0.5, what=f"disk usage of {directory} to fall below {usage_before}")
    report_figure("messages", sent)
    report_figure("log start advanced after s", round(advanced_after_s, 1))
    report_figure("new log start offset", low)
    report_figure("disk usage bytes before/after", (usage_before, usage_after))
    report_figure("segments before/after", (len(segments_before), len(list(directory.glob("*.log")))))

    # Reading from the beginning now starts at the new log start offset.
    got = read_partitions(broker.bootstrap, topic, [0], project=lambda m: m.offset())[0]
    assert got[0] >= low and got == list(range(got[0], sent))
