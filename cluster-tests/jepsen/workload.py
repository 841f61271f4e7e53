#!/usr/bin/env python3
"""Jepsen-style workload for a three-node riffle cluster, driven by the `cluster-tests jepsen` harness.

Subcommands:
  run     create the topic, print READY, then produce and consume until --duration seconds after READY,
          flush, and read every partition from the beginning to its high watermark (the final read).
          Every operation is a JSON line in --history (the format the Rust checker reads, see
          cluster-tests/src/history.rs).
  leader  print the leader node id of --topic/--partition (-1 when unknown).

Producers: acks=all, enable.idempotence=true, explicit partitions, unique values "<producer>.<gen>.<seq>".
A delivery report without error is `ok` (with its offset); any error is `info` (indeterminate).
Consumers: assign() only (no group), polling continuously, re-created every 8-20 s at an offset a little
before where the previous one stopped; each consume() call is one `poll` line.
"""

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
import traceback

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

QUIET = logging.getLogger("librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False

# JEPSEN_RDKAFKA_LOG=<file>: producers log librdkafka's idempotence debug (`debug=eos,msg,broker`) there, to see
# why a producer bumped its epoch or re-sent a message.
DEBUG_LOG_PATH = os.environ.get("JEPSEN_RDKAFKA_LOG")
DEBUG_LOG = None
if DEBUG_LOG_PATH:
    DEBUG_LOG = logging.getLogger("librdkafka-debug")
    _handler = logging.FileHandler(DEBUG_LOG_PATH)
    _handler.setFormatter(logging.Formatter("%(created).3f %(threadName)s %(message)s"))
    DEBUG_LOG.addHandler(_handler)
    DEBUG_LOG.setLevel(logging.DEBUG)
    DEBUG_LOG.propagate = False


class History:
    """Append-only JSON-lines history shared by all threads."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1 << 16)
        self.lock = threading.Lock()

    def write(self, event):
        line = json.dumps(event, separators=(",", ":"))
        with self.lock:
            self.file.write(line + "\n")

    def close(self):
        with self.lock:
            self.file.flush()
            self.file.close()


def base_config(bootstrap):
    return {"bootstrap.servers": bootstrap, "logger": QUIET, "socket.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 1000}


def create_topic(bootstrap, topic, partitions, timeout_s):
    """Creates the topic (retrying while the cluster forms) and waits until every partition has a leader."""
    deadline = time.monotonic() + timeout_s
    created = False
    last = None
    while time.monotonic() < deadline:
        admin = AdminClient(base_config(bootstrap))
        try:
            if not created:
                fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3)],
                                          operation_timeout=10, request_timeout=10)[topic]
                try:
                    fut.result(timeout=15)
                except KafkaException as e:
                    if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise
                created = True
            md = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
            if md is not None and md.error is None and len(md.partitions) == partitions and all(
                    pm.leader >= 0 and len(pm.isrs) == 3 for pm in md.partitions.values()):
                return
            last = f"metadata {md and {p: (pm.leader, pm.isrs) for p, pm in md.partitions.items()}}"
        except Exception as e:  # the cluster is still forming
            last = repr(e)
        time.sleep(0.5)
    raise SystemExit(f"topic {topic} not ready after {timeout_s} s: {last}")


def producer_loop(hist, args, idx, stop_at):
    gen = 0
    seq = 0
    while time.time() < stop_at:
        gen += 1
        process = f"p{idx}.{gen}"
        outstanding = {}
        state = {"fatal": None}
        lock = threading.Lock()

        def on_delivery(err, msg, value):
            now = time.time()
            with lock:
                partition = outstanding.pop(value, None)
            if partition is None:
                return
            if err is None:
                hist.write({"type": "ok", "process": process, "partition": partition, "value": value,
                            "offset": msg.offset(), "t": now})
            else:
                hist.write({"type": "info", "process": process, "partition": partition, "value": value,
                            "error": str(err.name()), "t": now})
                if err.fatal():
                    state["fatal"] = str(err)

        conf = base_config(args.bootstrap)
        conf.update({"acks": "all", "enable.idempotence": True, "linger.ms": 2,
                     "message.timeout.ms": args.message_timeout_ms,
                     "error_cb": lambda e: state.__setitem__("fatal", str(e)) if e.fatal() else None})
        if DEBUG_LOG is not None:
            conf.update({"logger": DEBUG_LOG, "debug": "eos,msg,broker"})
        prod = Producer(conf)
        try:
            produce_until(hist, args, prod, process, idx, gen, seq, stop_at, state, lock, outstanding, on_delivery)
        except Exception as e:  # recorded; the writes in flight become indeterminate below
            traceback.print_exc()
            print(f"producer {process}: {e!r}", flush=True)
            state["fatal"] = state["fatal"] or repr(e)
        seq = state.get("seq", seq)
        if state["fatal"] is not None:
            hist.write({"type": "producer_fatal", "process": process, "error": state["fatal"], "t": time.time()})
        now = time.time()
        with lock:
            left = dict(outstanding)
            outstanding.clear()
        for value, partition in left.items():
            hist.write({"type": "info", "process": process, "partition": partition, "value": value,
                        "error": f"no delivery report ({state['fatal'] or 'flush timed out'})", "t": now})


def produce_until(hist, args, prod, process, idx, gen, seq, stop_at, state, lock, outstanding, on_delivery):
    """Sends one value every 1/rate s (at most max_outstanding unacknowledged) until stop_at or a fatal error,
    then flushes. Leaves the last sequence number in state["seq"]."""
    interval = 1.0 / args.rate
    next_send = time.time()
    try:
        while time.time() < stop_at and state["fatal"] is None:
            now = time.time()
            with lock:
                n = len(outstanding)
            if n >= args.max_outstanding or now < next_send:
                prod.poll(min(0.01, max(0.0, next_send - now)))
                continue
            next_send = max(next_send + interval, now - 1.0)
            seq += 1
            partition = seq % args.partitions
            value = f"{idx}.{gen}.{seq}"
            with lock:
                outstanding[value] = partition
            hist.write({"type": "invoke", "process": process, "partition": partition, "value": value,
                        "t": time.time()})
            try:
                prod.produce(args.topic, value=value.encode(), partition=partition,
                             on_delivery=lambda err, msg, v=value: on_delivery(err, msg, v))
            except (BufferError, KafkaException) as e:
                with lock:
                    outstanding.pop(value, None)
                hist.write({"type": "fail", "process": process, "partition": partition, "value": value,
                            "error": repr(e), "t": time.time()})
            prod.poll(0)
        if state["fatal"] is None:
            prod.flush(args.flush_timeout_s)
    finally:
        state["seq"] = seq


def consumer_loop(hist, args, idx, stop_at, rng):
    gen = 0
    positions = {p: 0 for p in range(args.partitions)}
    while time.time() < stop_at:
        gen += 1
        cid = f"c{idx}.{gen}"
        conf = base_config(args.bootstrap)
        conf.update({"group.id": f"jepsen-{cid}", "enable.auto.commit": False, "enable.auto.offset.store": False,
                     "auto.offset.reset": "error", "fetch.wait.max.ms": 200})
        start = {p: max(0, o - rng.randint(0, 50)) for p, o in positions.items()}
        consumer = Consumer(conf)
        hist.write({"type": "assign", "consumer": cid, "positions": sorted(start.items()), "t": time.time()})
        consumer.assign([TopicPartition(args.topic, p, o) for p, o in start.items()])
        positions = dict(start)
        until = min(stop_at, time.time() + rng.uniform(8, 20))
        try:
            while time.time() < until:
                msgs = consumer.consume(num_messages=1000, timeout=0.3)
                now = time.time()
                got = []
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            hist.write({"type": "consumer_error", "consumer": cid, "error": str(err), "t": now})
                        continue
                    got.append([m.partition(), m.offset(), m.value().decode()])
                    positions[m.partition()] = m.offset() + 1
                if got:
                    hist.write({"type": "poll", "consumer": cid, "msgs": got, "t": now})
        finally:
            consumer.close()


def final_read(hist, args):
    """Reads every partition from offset 0 to the high watermark, retrying whole reads until one succeeds."""
    deadline = time.monotonic() + args.final_read_timeout_s
    attempt = 0
    while True:
        attempt += 1
        conf = base_config(args.bootstrap)
        conf.update({"group.id": f"jepsen-final-{attempt}", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "auto.offset.reset": "error",
                     "enable.partition.eof": True})
        consumer = Consumer(conf)
        try:
            ends = {}
            for p in range(args.partitions):
                _low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10, cached=False)
                ends[p] = high
            consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in range(args.partitions)])
            out = {p: [] for p in range(args.partitions)}
            done = {p for p in range(args.partitions) if ends[p] == 0}
            read_deadline = time.monotonic() + 60
            while len(done) < args.partitions:
                if time.monotonic() > read_deadline:
                    raise TimeoutError(f"final read stalled: {({p: len(v) for p, v in out.items()})} of {ends}")
                for m in consumer.consume(num_messages=10000, timeout=1.0):
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            if m.offset() >= ends[m.partition()]:
                                done.add(m.partition())
                            continue
                        raise KafkaException(err)
                    if m.offset() < ends[m.partition()]:
                        out[m.partition()].append([m.offset(), m.value().decode()])
                    if m.offset() + 1 >= ends[m.partition()]:
                        done.add(m.partition())
            now = time.time()
            for p in range(args.partitions):
                hist.write({"type": "final", "partition": p, "high_watermark": ends[p], "msgs": out[p], "t": now})
            print(f"final read: high watermarks {ends} (attempt {attempt})", flush=True)
            return
        except Exception as e:
            print(f"final read attempt {attempt} failed: {e!r}", flush=True)
            if time.monotonic() > deadline:
                hist.write({"type": "final_failed", "error": repr(e), "t": time.time()})
                return
            time.sleep(2)
        finally:
            consumer.close()


def cmd_run(args):
    hist = History(args.history)
    create_topic(args.bootstrap, args.topic, args.partitions, args.ready_timeout_s)
    t0 = time.time()
    hist.write({"type": "ready", "t": t0})
    print("READY", flush=True)
    stop_at = t0 + args.duration
    rng = random.Random(args.seed)
    threads = [threading.Thread(target=producer_loop, args=(hist, args, i, stop_at), daemon=True)
               for i in range(args.producers)]
    threads += [threading.Thread(target=consumer_loop, args=(hist, args, i, stop_at, random.Random(rng.random())),
                                 daemon=True) for i in range(args.consumers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hist.write({"type": "produce_end", "t": time.time()})
    final_read(hist, args)
    hist.close()


def cmd_leader(args):
    try:
        md = AdminClient(base_config(args.bootstrap)).list_topics(topic=args.topic, timeout=6)
        t = md.topics.get(args.topic)
        print(t.partitions[args.partition].leader if t is not None and t.error is None else -1)
    except Exception:
        print(-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--bootstrap", required=True)
    run.add_argument("--topic", default="jepsen")
    run.add_argument("--partitions", type=int, default=3)
    run.add_argument("--history", required=True)
    run.add_argument("--duration", type=float, required=True, help="seconds of producing after READY")
    run.add_argument("--producers", type=int, default=3)
    run.add_argument("--consumers", type=int, default=2)
    run.add_argument("--rate", type=float, default=100.0, help="sends per second per producer")
    run.add_argument("--max-outstanding", type=int, default=50)
    # 0 = librdkafka never times a message out locally. With a finite timeout, librdkafka fails
    # timed-out in-flight messages as _MSG_TIMED_OUT, bumps the producer epoch and re-sends the
    # other in-flight (possibly persisted) messages under new sequence numbers: duplicates no broker
    # can recognise (librdkafka issue #4953; cluster-tests/RESULTS.md). The run tests the broker.
    run.add_argument("--message-timeout-ms", type=int, default=0)
    run.add_argument("--flush-timeout-s", type=float, default=60)
    run.add_argument("--ready-timeout-s", type=float, default=90)
    run.add_argument("--final-read-timeout-s", type=float, default=180)
    run.add_argument("--seed", type=int, default=0)
    leader = sub.add_parser("leader")
    leader.add_argument("--bootstrap", required=True)
    leader.add_argument("--topic", default="jepsen")
    leader.add_argument("--partition", type=int, default=0)
    args = ap.parse_args()
    {"run": cmd_run, "leader": cmd_leader}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
