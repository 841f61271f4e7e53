"""One consumer-group member (confluent-kafka or kafka-python) for the group interop tests.

In-process it runs on a thread and reports into a MemberState; run as a script
(`python group_member.py <client> <bootstrap> <topic> <group> <extra-config-json>`) it prints the same events as
JSON lines on stdout so that a test can SIGKILL it and still know what it consumed. A member commits the offsets
of every batch synchronously before it reports the batch (or polls again), so a reported message is committed.
"""

import json
import logging
import sys
import threading
import time

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
# The rebalance timeout: how long the coordinator waits for members to rejoin.
MAX_POLL_INTERVAL_MS = 10000


class MemberState:
    """What one member saw: its current assignment, every assign/revoke callback, every message, errors."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.assigned = set()
        self.history = []  # (kind, sorted partitions): kind is "assign", "revoke", "lost"
        self.messages = []  # (partition, offset, value)
        self.errors = []
        self.incremental_flags = set()  # the "incremental" flag of every assign/revoke/lost callback

    def event(self, obj):
        """Applies one event as the script prints it: {"assign"|"revoke"|"lost": [...], "incremental": bool},
        {"msgs": [[p, offset, value], ...]}, {"error": text}."""
        with self.lock:
            for kind in ("assign", "revoke", "lost"):
                if kind in obj:
                    parts = sorted(obj[kind])
                    self.incremental_flags.add(bool(obj.get("incremental")))
                    self.history.append((kind, parts))
                    if kind == "assign":
                        if obj.get("incremental"):
                            self.assigned |= set(parts)
                        else:
                            self.assigned = set(parts)
                    elif obj.get("incremental"):
                        self.assigned -= set(parts)
                    else:
                        self.assigned = set()
            if "msgs" in obj:
                self.messages.extend(tuple(m) for m in obj["msgs"])
            if "error" in obj:
                self.errors.append(obj["error"])

    def snapshot(self):
        with self.lock:
            return {
                "assigned": set(self.assigned),
                "history": list(self.history),
                "messages": list(self.messages),
                "errors": list(self.errors),
            }


def run_confluent(bootstrap, topic, group, extra, emit, stop):
    from confluent_kafka import Consumer, TopicPartition

    config = {
        "bootstrap.servers": bootstrap,
        "logger": logging.getLogger("librdkafka"),
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    config.update(extra)
    consumer = Consumer(config)

    def incremental():
        # The Python binding has no rebalance_protocol(); cooperative-sticky is the only incremental assignor.
        return config.get("partition.assignment.strategy") == "cooperative-sticky"

    def on_assign(_c, parts):
        emit({"assign": [tp.partition for tp in parts], "incremental": incremental()})

    def on_revoke(_c, parts):
        emit({"revoke": [tp.partition for tp in parts], "incremental": incremental()})

    def on_lost(_c, parts):
        emit({"lost": [tp.partition for tp in parts], "incremental": incremental()})

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    try:
        while not stop():
            batch = consumer.consume(num_messages=500, timeout=0.2)
            good = []
            for msg in batch:
                if msg.error() is not None:
                    emit({"error": str(msg.error())})
                    continue
                good.append(msg)
            if not good:
                continue
            offsets = {}
            for msg in good:
                offsets[msg.partition()] = msg.offset() + 1
            try:
                consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                                asynchronous=False)
            except Exception as e:  # noqa: BLE001 - reported to the test, which asserts there are none
                emit({"error": f"commit: {e}"})
            emit({"msgs": [[m.partition(), m.offset(), m.value().decode()] for m in good]})
    finally:
        consumer.close()


def run_kafka_python(bootstrap, topic, group, extra, emit, stop):
    from kafka import KafkaConsumer
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.structs import OffsetAndMetadata

    config = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
        "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
        "metadata_max_age_ms": 2000,
    }
    config.update(extra)
    consumer = KafkaConsumer(**config)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit({"revoke": [tp.partition for tp in revoked], "incremental": False})

        def on_partitions_assigned(self, assigned):
            emit({"assign": [tp.partition for tp in assigned], "incremental": False})

    consumer.subscribe([topic], listener=Listener())
    try:
        while not stop():
            records = consumer.poll(timeout_ms=200)
            if not records:
                continue
            offsets = {}
            out = []
            for tp, msgs in records.items():
                for m in msgs:
                    out.append([tp.partition, m.offset, m.value.decode()])
                offsets[tp] = OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
            try:
                consumer.commit(offsets)
            except Exception as e:  # noqa: BLE001 - reported to the test, which asserts there are none
                emit({"error": f"commit: {type(e).__name__}: {e}"})
            emit({"msgs": out})
    finally:
        consumer.close()


RUNNERS = {"confluent": run_confluent, "kafka-python": run_kafka_python}


class LocalMember:
    """A member on a thread of the test process."""

    def __init__(self, client, bootstrap, topic, group, extra=None, name="member"):
        self.state = MemberState(name)
        self._stop = threading.Event()
        self._failure = []

        def body():
            try:
                RUNNERS[client](bootstrap, topic, group, extra or {}, self.state.event, self._stop.is_set)
            except Exception as e:  # noqa: BLE001 - surfaced by close() and in the state's errors
                self._failure.append(e)
                self.state.event({"error": f"member crashed: {type(e).__name__}: {e}"})

        self._thread = threading.Thread(target=body, name=name, daemon=True)
        self._thread.start()

    def close(self, timeout_s=30):
        """Stops polling and closes the consumer (which leaves the group, unless it is static)."""
        self._stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"{self.state.name} did not close within {timeout_s}s"
        assert not self._failure, f"{self.state.name} failed: {self._failure[0]!r}"


class RemoteMember:
    """A member in a child process (this file run as a script), so that it can be SIGKILLed."""

    def __init__(self, client, bootstrap, topic, group, extra=None, name="remote"):
        import shutil
        import subprocess

        self.state = MemberState(name)
        cmd = [sys.executable, __file__, client, bootstrap, topic, group, json.dumps(extra or {})]
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

        def read():
            for line in self.proc.stdout:
                try:
                    self.state.event(json.loads(line))
                except ValueError:
                    self.state.event({"error": f"bad line from child: {line!r}"})

        self._reader = threading.Thread(target=read, name=f"{name}-reader", daemon=True)
        self._reader.start()

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)

    def close(self, timeout_s=None):
        self.kill9()


def _main():
    client, bootstrap, topic, group, extra = sys.argv[1:6]
    out_lock = threading.Lock()

    def emit(obj):
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    RUNNERS[client](bootstrap, topic, group, json.loads(extra), emit, lambda: False)


if __name__ == "__main__":
    _main()
