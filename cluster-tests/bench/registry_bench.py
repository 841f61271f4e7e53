"""Schema registry benchmark: registrations/s and id lookups/s against the built-in registry of a fresh
three-node cluster (conftest.Cluster from cluster-tests/cluster; node n serves the registry on base+n-1, every
node is killed on exit). Run as

    .venv/bin/python cluster-tests/bench/registry_bench.py [--schemas 2000] [--clients 8] [--lookups 40000]

Registrations: distinct Avro schemas (new ids, one subject each), `--clients` concurrent keep-alive HTTP clients,
sent (a) all to the `_schemas` leader, (b) all to a follower (each forwarded to the leader), (c) spread over the
three nodes. Every registration is acknowledged only once committed by a majority (fsync). Lookups: GET
/schemas/ids/{id} of random registered ids from `--clients` processes, to the leader and to a follower (each
node answers from its own replica). Prints a Markdown table; never asserts a speed, but exits non-zero when a
request fails or two schemas share an id."""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))

from conftest import Cluster, riffle_bin  # noqa: E402
from test_schema_registry_cluster import consecutive_free_ports, wait_for_registry  # noqa: E402

CT = "application/vnd.schemaregistry.v1+json"


def log(msg):
    print(f"[registry-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def connection(url):
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def request(conn, method, path, body=None):
    data = None if body is None else json.dumps(body)
    headers = {"Content-Type": CT} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {payload[:300]!r}")
    return json.loads(payload)


def schema(tag, i):
    return json.dumps({"type": "record", "name": f"B{tag}_{i}", "namespace": "riffle.bench",
                       "fields": [{"name": "f", "type": "long"}]})


def register_all(urls, tag, count, clients):
    """Registers `count` new schemas with `clients` threads, thread k using urls[k % len(urls)]. Returns
    (seconds, {id: schema})."""
    ids, errors = {}, []
    lock = threading.Lock()

    def worker(k):
        conn = connection(urls[k % len(urls)])
        try:
            for i in range(k, count, clients):
                s = schema(tag, i)
                out = request(conn, "POST", f"/subjects/bench-{tag}-{i}-value/versions", {"schema": s})
                with lock:
                    if out["id"] in ids:
                        errors.append(f"id {out['id']} given to two schemas")
                    ids[out["id"]] = s
        except Exception as e:
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"registration failed: {errors[:3]}")
    return elapsed, ids


def lookup_worker(args):
    url, ids, count, seed = args
    rng = random.Random(seed)
    conn = connection(url)
    try:
        for _ in range(count):
            request(conn, "GET", f"/schemas/ids/{rng.choice(ids)}")
    finally:
        conn.close()
    return count


def lookups(url, ids, total, clients):
    per = total // clients
    with multiprocessing.Pool(clients) as pool:
        start = time.perf_counter()
        done = sum(pool.map(lookup_worker, [(url, ids, per, k) for k in range(clients)]))
        return done, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schemas", type=int, default=2000, help="registrations per scenario")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--lookups", type=int, default=40000, help="id lookups per node")
    args = ap.parse_args()
    log(f"riffle binary: {riffle_bin()}")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        c = Cluster(tmp)
        base = consecutive_free_ports(3)
        urls = {}
        for node_id, node in c.nodes.items():
            urls[node_id] = f"http://127.0.0.1:{base + node_id - 1}"
            node.overrides["schema.registry.listeners"] = urls[node_id]
        try:
            c.start_all()
            for u in urls.values():
                wait_for_registry(u)
            conn = connection(urls[1])
            request(conn, "POST", "/subjects/bench-warmup-value/versions", {"schema": schema("warm", 0)})
            conn.close()
            leader = c.wait_for_leader("_schemas", 0)
            follower = next(n for n in (1, 2, 3) if n != leader)
            log(f"_schemas leader: node {leader}; follower used: node {follower}")
            rows, all_ids = [], {}
            for tag, name, targets in (("leader", "to the leader", [urls[leader]]),
                                       ("follower", "to a follower (forwarded)", [urls[follower]]),
                                       ("spread", "spread over 3 nodes", list(urls.values()))):
                secs, ids = register_all(targets, tag, args.schemas, args.clients)
                clash = set(ids) & set(all_ids)
                if clash:
                    raise RuntimeError(f"ids reused across scenarios: {sorted(clash)[:5]}")
                all_ids.update(ids)
                rows.append((f"registrations {name}", args.schemas, secs))
                log(f"registrations {name}: {args.schemas / secs:.0f}/s")
            id_list = sorted(all_ids)
            for name, node_id in (("leader", leader), ("follower", follower)):
                done, secs = lookups(urls[node_id], id_list, args.lookups, args.clients)
                rows.append((f"id lookups on the {name}", done, secs))
                log(f"id lookups on the {name}: {done / secs:.0f}/s")
        finally:
            c.kill_all()
    print(f"\n{args.clients} concurrent keep-alive clients, {len(all_ids)} schemas registered in all\n")
    print("| operation | requests | seconds | per second |")
    print("|---|---:|---:|---:|")
    for name, n, secs in rows:
        print(f"| {name} | {n} | {secs:.2f} | {n / secs:,.0f} |")


if __name__ == "__main__":
    main()
