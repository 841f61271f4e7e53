"""kill -9 in the middle of an idempotent acks=all stream: every acknowledged message survives, in order, once.

RIFFLE_KILL9_MESSAGES (default 1,000,000) and RIFFLE_KILL9_ROUNDS (default 1 kill) scale it up for .ci/soak."""

import os
import time

import pytest
from confluent_kafka import Producer

from conftest import create_topic, kafka_config, read_partitions, unique_topic

MESSAGES = int(os.environ.get("RIFFLE_KILL9_MESSAGES", "1000000"))
KILL_ROUNDS = int(os.environ.get("RIFFLE_KILL9_ROUNDS", "1"))
PARTITIONS = 3


@pytest.mark.timeout(int(os.environ.get("RIFFLE_KILL9_TIMEOUT_S", "1200")))
def test_kill9_acked_messages_survive(broker, report_figure):
    topic = create_topic(broker.bootstrap, unique_topic("kill9"), partitions=PARTITIONS)
    # Kill after ~30% of the delivery reports, then (soak) at evenly spaced points up to 90%.
    kill_points = [int(MESSAGES * (0.3 + 0.6 * j / KILL_ROUNDS)) for j in range(KILL_ROUNDS)]

    acked = {p: [] for p in range(PARTITIONS)}  # partition -> [(offset, value)] in delivery order
    errors = []
    delivered = 0

    def on_delivery(err, msg):
        nonlocal delivered
        delivered += 1
        if err is not None:
            errors.append((err, msg.value()))
        else:
            acked[msg.partition()].append((msg.offset(), msg.value()))

    producer = Producer({
        **kafka_config(broker.bootstrap),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 120000,
        "reconnect.backoff.max.ms": 1000,
        "on_delivery": on_delivery,
    })

    start = time.monotonic()
    downtimes = []

    def kill_if_due():
        if kill_points and delivered >= kill_points[0]:
            kill_points.pop(0)
            killed_at = time.monotonic()
            broker.kill9()
            broker.restart()
            downtimes.append(time.monotonic() - killed_at)
            report_figure("killed after delivery reports", delivered)

    for i in range(MESSAGES):
        while True:
            try:
                producer.produce(topic, value=b"%08d" % i, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
            kill_if_due()
    # Kill points the deliveries had not reached when the last message was queued.
    while kill_points and delivered < MESSAGES:
        producer.poll(0.01)
        kill_if_due()
    remaining = producer.flush(300)
    produce_s = time.monotonic() - start
    assert kill_points == [], f"kill points {kill_points} not reached: all {MESSAGES} delivered before"

    read_start = time.monotonic()
    read = read_partitions(broker.bootstrap, topic, list(range(PARTITIONS)), timeout_s=600,
                           project=lambda m: (m.offset(), m.value()))
    read_s = time.monotonic() - read_start

    report_figure("messages", MESSAGES)
    report_figure("acknowledged", sum(len(v) for v in acked.values()))
    report_figure("delivery errors", len(errors))
    report_figure("produce+flush s (incl. restarts)", round(produce_s, 1))
    report_figure("produce msgs/s", round(MESSAGES / produce_s))
    report_figure("restart downtime s", [round(d, 2) for d in downtimes])
    report_figure("read-back s", round(read_s, 1))
    report_figure("read-back msgs/s", round(sum(len(v) for v in read.values()) / max(read_s, 1e-9)))

    all_read = [value for p in read for _, value in read[p]]
    assert len(all_read) == len(set(all_read)), f"{len(all_read) - len(set(all_read))} values appear twice"
    for p in range(PARTITIONS):
        unexpected = [v for _, v in read[p] if not (v.isdigit() and int(v) < MESSAGES and int(v) % PARTITIONS == p)]
        assert unexpected == [], f"partition {p} holds values never sent there: {unexpected[:5]}"

    for p in range(PARTITIONS):
        at_offset = dict(read[p])
        missing = [(o, v) for o, v in acked[p] if o not in at_offset]
        assert missing == [], f"partition {p}: {len(missing)} acknowledged messages lost, first {missing[:5]}"
        moved = [(o, v, at_offset[o]) for o, v in acked[p] if at_offset[o] != v]
        assert moved == [], f"partition {p}: acknowledged offset holds another value (offset, acked, read) {moved[:5]}"
        acked_values = {v for _, v in acked[p]}
        read_order = [v for _, v in read[p] if v in acked_values]
        assert read_order == sorted(acked_values), f"partition {p}: acknowledged values out of send order"

    assert remaining == 0, f"{remaining} messages neither delivered nor failed after flush(300)"
    assert errors == [], f"{len(errors)} delivery errors, first: {errors[:3]}"
