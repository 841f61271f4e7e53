"""Three-node cluster benchmark, run by cluster-tests/bench/cluster.sh: acks=all produce throughput
(rdkafka_performance), per-message acks=all delivery latency at a fixed rate (confluent-kafka), and leader
failover time (SIGKILL the leader of a partition under load, time until a message produced after the kill is
acknowledged), on a fresh cluster started with conftest.Cluster (every node is killed on exit). Prints a
Markdown report; never asserts a speed, but exits non-zero when a run fails (lost deliveries, no failover)."""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import Cluster, create_topic, kafka_config, riffle_bin  # noqa: E402


def log(msg):
    print(f"[cluster-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def rdkafka_performance(perf, args, results_dir, name, timeout_s):
    """One bounded producer run; returns (delivered, failed, seconds, command)."""
    cmd = [perf] + args
    out_path = os.path.join(results_dir, f"{name}.log")
    log(" ".join(cmd))
    with open(out_path, "wb") as out:
        try:
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            log(f"{name}: timed out after {timeout_s} s")
    text = open(out_path, errors="replace").read()
    # "% N messages produced (B bytes), D delivered (offset O, F failed) in Tms: ..."
    m = None
    for m in re.finditer(r"^% (\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset -?\d+, (\d+) failed\) "
                         r"in (\d+)ms", text, re.M):
        pass
    if m is None:
        return 0, -1, 0.0, " ".join(cmd)
    return int(m.group(3)), int(m.group(4)), int(m.group(5)) / 1000, " ".join(cmd)


def delivery_latency(bootstrap, topic, rate, seconds, msg_bytes, idempotent):
    """Produces `rate` messages/s for `seconds` with linger.ms=0 and acks=all; returns sorted latencies (ms)
    from produce() to the delivery report, and the number of failed deliveries."""
    from confluent_kafka import Producer

    p = Producer(kafka_config(bootstrap, **{"acks": "all", "linger.ms": 0, "enable.idempotence": idempotent,
                                            "message.timeout.ms": 30000}))
    lat, failed = [], [0]
    payload = b"x" * msg_bytes

    def make_cb(t0):
        def cb(err, _msg):
            if err is None:
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                failed[0] += 1
        return cb

    warmup = int(rate * 2)  # 2 s whose latencies are dropped: connections, first batches, leader caches
    total = warmup + int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        if i == warmup:
            p.flush(30)
            del lat[:]
            failed[0] = 0
            start = time.perf_counter() - i / rate
        target = start + i / rate
        while (now := time.perf_counter()) < target:
            p.poll(min(target - now, 0.001))
        p.produce(topic, value=payload, partition=0, on_delivery=make_cb(time.perf_counter()))
        p.poll(0)
    p.flush(60)
    return sorted(lat), failed[0]


class FailoverLoad:
    """Idempotent acks=all producer thread writing to partition 0 every 5 ms; records (enqueue, ack) times."""

    def __init__(self, bootstrap, topic):
        from confluent_kafka import Producer

        self.p = Producer(kafka_config(bootstrap, **{
            "acks": "all", "enable.idempotence": True, "linger.ms": 1, "message.timeout.ms": 60000,
            "request.timeout.ms": 5000, "topic.metadata.refresh.interval.ms": 1000}))
        self.topic = topic
        self.lock = threading.Lock()
        self.acks = []  # (enqueue time, ack time)
        self.errors = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_event.is_set():
            t0 = time.monotonic()

            def cb(err, _msg, t0=t0):
                with self.lock:
                    if err is None:
                        self.acks.append((t0, time.monotonic()))
                    else:
                        self.errors += 1
            self.p.produce(self.topic, value=b"f" * 100, partition=0, on_delivery=cb)
            self.p.poll(0.005)
        self.p.flush(60)

    def first_ack_after(self, t):
        with self.lock:
            after = [a for e, a in self.acks if e > t]
        return min(after) if after else None


def fsync_probe(directory):
    """fdatasync latency of the disk under the data dirs: 200 x (append 4 KiB + fdatasync), as run.sh does."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    lat = []
    try:
        for _ in range(200):
            t = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    return (f"disk probe: fdatasync after a 4 KiB append: median {percentile(lat, 0.5):.2f} ms, "
            f"p90 {percentile(lat, 0.9):.2f} ms, p99 {percentile(lat, 0.99):.2f} ms (200 samples)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", required=True, help="rdkafka_performance binary")
    ap.add_argument("--msgs", type=int, default=200000)
    ap.add_argument("--msg-bytes", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--latency-rate", type=int, default=500)
    ap.add_argument("--latency-seconds", type=int, default=10)
    ap.add_argument("--failover-reps", type=int, default=3)
    ap.add_argument("--run-timeout", type=int, default=150)
    ap.add_argument("--results", required=True)
    ap.add_argument("--queue-msgs", default="1000000")
    a = ap.parse_args()

    failed = False
    base = tempfile.mkdtemp(prefix="riffle-cluster-bench.")
    probe = fsync_probe(base)
    log(probe)
    cluster = Cluster(base)
    log(f"starting three nodes ({riffle_bin()}), data under {base}")
    rows, commands = [], []
    try:
        t = time.monotonic()
        cluster.start_all(timeout_s=60)
        log(f"cluster ready in {time.monotonic() - t:.1f} s: {cluster.bootstrap}")

        # 1. Delivery latency at a fixed rate, first: on a quiet cluster (after the throughput runs the
        # nodes are still writing back a gigabyte each).
        lat_rows = []
        for idem in (False, True):
            topic = create_topic(cluster, f"bench-lat-{int(idem)}", partitions=1)
            lat, nfailed = delivery_latency(cluster.bootstrap, topic, a.latency_rate, a.latency_seconds,
                                            a.msg_bytes, idem)
            failed |= nfailed > 0
            lat_rows.append((f"acks=all{' idempotent' if idem else ''}", len(lat), nfailed,
                             f"{percentile(lat, 0.5):.2f}", f"{percentile(lat, 0.99):.2f}", f"{lat[-1] if lat else 0:.2f}"))
            log(f"  latency -> {lat_rows[-1]}")

        # 2. Throughput, acks=all (plain and idempotent).
        for name, extra in [("produce acks=all", []), ("produce acks=all idempotent", ["-X", "enable.idempotence=true"])]:
            topic = create_topic(cluster, f"bench-{len(rows)}", partitions=a.partitions)
            args = ["-P", "-t", topic, "-b", cluster.bootstrap, "-s", str(a.msg_bytes), "-c", str(a.msgs),
                    "-X", "acks=all"] + extra
            if a.queue_msgs:
                args += ["-X", f"queue.buffering.max.messages={a.queue_msgs}"]
            delivered, nfailed, secs, cmd = rdkafka_performance(a.perf, args, a.results, f"tp{len(rows)}",
                                                                a.run_timeout)
            ok = delivered == a.msgs and nfailed == 0
            failed |= not ok
            rate = delivered / secs if secs else 0
            rows.append((name, delivered, f"{secs:.2f}", f"{rate:.0f}", f"{rate * a.msg_bytes / 1e6:.1f}",
                         "ok" if ok else f"FAILED ({nfailed} failed)"))
            commands.append(f"{name}: {cmd}")
            log(f"  -> {rows[-1]}")

        # 3. Failover: kill the leader of partition 0 under load, a.failover_reps times.
        topic = create_topic(cluster, "bench-failover", partitions=1)
        failovers = []
        for rep in range(a.failover_reps):
            load = FailoverLoad(cluster.bootstrap, topic)
            load.thread.start()
            try:
                deadline = time.monotonic() + 30
                while load.first_ack_after(0) is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)
                victim = cluster.leader_of(topic, 0)
                killed = time.monotonic()
                cluster.kill(victim)
                new_leader_at = None
                deadline = killed + 60
                first = None
                while time.monotonic() < deadline:
                    if new_leader_at is None and cluster.leader_of(topic, 0) not in (-1, victim):
                        new_leader_at = time.monotonic()
                    first = load.first_ack_after(killed)
                    if first is not None and new_leader_at is not None:
                        break
                    time.sleep(0.02)
            finally:
                load.stop_event.set()
                load.thread.join(90)
            gap = (first - killed) * 1000 if first else None
            md = (new_leader_at - killed) * 1000 if new_leader_at else None
            failed |= gap is None
            failovers.append((rep + 1, victim, f"{gap:.0f}" if gap is not None else "none in 60 s",
                              f"{md:.0f}" if md is not None else "-", load.errors))
            log(f"  failover -> {failovers[-1]}")
            cluster.start(victim)
            cluster.wait_fully_replicated(topic, 1, timeout_s=60)
            time.sleep(1.0)
    finally:
        cluster.kill_all()

    print()
    print(f"riffle three-node cluster benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; logs in {a.results}")
    print(probe)
    print()
    print(f"Produce throughput, {a.msgs} x {a.msg_bytes} B, {a.partitions} partition(s), RF=3, min.insync.replicas=2 "
          "(MB = 10^6 bytes):")
    print()
    print("| scenario | delivered | s | msgs/s | MB/s | status |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(map(str, r)) + " |")
    print()
    print(f"Delivery latency (produce() to delivery report), {a.latency_rate} msgs/s for {a.latency_seconds} s, "
          f"{a.msg_bytes} B, linger.ms=0, confluent-kafka, after 2 s of warm-up (run before the throughput runs):")
    print()
    print("| producer | acked | failed | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in lat_rows:
        print("| " + " | ".join(map(str, r)) + " |")
    print()
    print("Leader failover (SIGKILL of the partition leader under a 200 msgs/s idempotent acks=all load):")
    print()
    print("| rep | killed node | kill to first ack of a message produced after it (ms) | kill to new leader in Metadata (ms) | delivery errors |")
    print("|---:|---:|---:|---:|---:|")
    for r in failovers:
        print("| " + " | ".join(map(str, r)) + " |")
    print()
    print("Commands:")
    for c in commands:
        print(f"  {c}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
