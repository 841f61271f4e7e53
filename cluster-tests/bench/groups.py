#!/usr/bin/env python3
"""Consumer-group benchmark against a fresh single `riffle serve`: time for 10 members to get
their first assignment, time to rebalance when an 11th joins, and offset-commit throughput
(synchronous and asynchronous commits, each answered only once durable in __consumer_offsets).

Usage: cluster-tests/bench/groups.py   (RIFFLE_BIN defaults to target/release/riffle; needs
confluent-kafka, e.g. the .venv that .ci/run makes). Bounded: every wait has a deadline."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RIFFLE_BIN = os.environ.get("RIFFLE_BIN", os.path.join(REPO, "target", "release", "riffle"))
MEMBERS = 10
PARTITIONS = 40
COMMITS = 2000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Member(threading.Thread):
    def __init__(self, bootstrap, group, topic, name):
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                                  "enable.auto.commit": False, "client.id": name})
        self.topic, self.assigned_at, self.assignment = topic, None, []
        self.stop = threading.Event()

    def on_assign(self, _consumer, partitions):
        self.assignment = sorted(p.partition for p in partitions)
        self.assigned_at = time.monotonic()

    def run(self):
        self.consumer.subscribe([self.topic], on_assign=self.on_assign)
        while not self.stop.is_set():
            self.consumer.poll(0.1)
        self.consumer.close()


def wait(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out after {timeout_s}s waiting for {what}")


def main():
    data = tempfile.mkdtemp(prefix="riffle-bench-groups-")
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = subprocess.Popen([RIFFLE_BIN, "serve", "--override", f"listeners=PLAINTEXT://{bootstrap}",
                               "--override", f"log.dirs={data}", "--override", "schema.registry.listeners=",
                               "--override", "group.initial.rebalance.delay.ms=0"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "broker.log"), "w"))
    members = []
    try:
        wait(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 30, "the broker to listen")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("bench-groups", PARTITIONS, 1)])["bench-groups"].result(30)
        del admin

        start = time.monotonic()
        members = [Member(bootstrap, "bench", "bench-groups", f"m{i}") for i in range(MEMBERS)]
        for m in members:
            m.start()
        wait(lambda: all(m.assigned_at for m in members)
             and sum(len(m.assignment) for m in members) == PARTITIONS, 120, "10 members assigned")
        first = max(m.assigned_at for m in members) - start
        for m in members:
            m.assigned_at = None
        joined = time.monotonic()
        extra = Member(bootstrap, "bench", "bench-groups", "m10")
        members.append(extra)
        extra.start()
        wait(lambda: all(m.assigned_at for m in members)
             and sum(len(m.assignment) for m in members) == PARTITIONS, 120, "the 11th member's rebalance")
        rebalance = max(m.assigned_at for m in members) - joined

        committer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-commits",
                              "enable.auto.commit": False})
        t0 = time.monotonic()
        for i in range(COMMITS):
            committer.commit(offsets=[TopicPartition("bench-groups", i % PARTITIONS, i)], asynchronous=False)
        sync_rate = COMMITS / (time.monotonic() - t0)
        t0 = time.monotonic()
        for i in range(COMMITS):
            committer.commit(offsets=[TopicPartition("bench-groups", i % PARTITIONS, i)], asynchronous=True)
        # Async commits complete while the client polls; the last one is then committed.
        wait(lambda: committer.poll(0.01) is None and committer.committed(
            [TopicPartition("bench-groups", (COMMITS - 1) % PARTITIONS)], timeout=10)[0].offset == COMMITS - 1,
            60, "async commits")
        async_rate = COMMITS / (time.monotonic() - t0)
        committer.close()
        print("| measurement | value |")
        print("|---|---:|")
        print(f"| {MEMBERS} members subscribe → all assigned ({PARTITIONS} partitions) | {first * 1000:.0f} ms |")
        print(f"| 11th member joins → group rebalanced | {rebalance * 1000:.0f} ms |")
        print(f"| synchronous OffsetCommit (1 partition each), one client | {sync_rate:.0f} commits/s |")
        print(f"| asynchronous OffsetCommit, one client | {async_rate:.0f} commits/s |")
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.join(timeout=15)
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
