"""The built-in schema registry on a three-node cluster: every node serves it (node n on registry port base+n-1,
the rule a node uses to find the `_schemas` leader's registry, as `riffle dev`'s 8081-8083), reads follow the
replicated `_schemas` topic on every node, writes on any node are forwarded to the leader, concurrent registrations
on different nodes never share an id, and schemas/ids/configs survive a restart of every node and the loss of the
`_schemas` leader. Real clients: confluent-kafka's Avro/Protobuf/JSON serializers through a topic, and
@kafkajs/confluent-schema-registry."""

import json
import pathlib
import random
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from conftest import (
    JS_NODE_MODULES,
    Cluster,
    create_topic,
    kafka_config,
    read_partitions,
    unique_topic,
    wait_until,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
JS_CLIENT = REPO_ROOT / "cluster-tests" / "interop" / "js" / "schema_registry.mjs"

CT = "application/vnd.schemaregistry.v1+json"


def avro_record(name, fields):
    return json.dumps({"type": "record", "name": name, "namespace": "riffle.cluster",
                       "fields": [{"name": f, "type": "long"} for f in fields]})


def consecutive_free_ports(count=3):
    """`count` consecutive free ports (the registry port rule needs node n on base + n - 1)."""
    for _ in range(200):
        base = random.randint(20000, 60000)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports found")


@pytest.fixture
def registry_cluster(request, tmp_path):
    """Three running nodes with a registry each; `c.registry[node_id]` is its URL. Killed at teardown."""
    c = Cluster(tmp_path)
    base = consecutive_free_ports(len(c.nodes))
    c.registry = {}
    for node_id, node in c.nodes.items():
        url = f"http://127.0.0.1:{base + node_id - 1}"
        node.overrides["schema.registry.listeners"] = url
        c.registry[node_id] = url
    request.node._riffle_cluster = c
    try:
        c.start_all()
        for url in c.registry.values():
            wait_for_registry(url)
        yield c
    finally:
        c.kill_all()


def wait_for_registry(url, timeout_s=30):
    def up():
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(up, timeout_s, what=f"schema registry at {url}")


def http(url, method="GET", body=None, timeout_s=60):
    """(status, parsed JSON body) of one request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", CT)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def register(url, subject, schema, schema_type=None):
    body = {"schema": schema}
    if schema_type:
        body["schemaType"] = schema_type
    status, out = http(f"{url}/subjects/{subject}/versions", "POST", body)
    assert status == 200, f"register {subject} on {url}: {status} {out}"
    return out["id"]


def eventually(url, path, expect_status=200, timeout_s=30):
    """GET url+path until it answers expect_status (a follower folds `_schemas` as its high watermark moves);
    returns the body."""
    last = {}

    def ok():
        status, body = http(url + path)
        last["v"] = (status, body)
        return status == expect_status

    wait_until(ok, timeout_s, what=f"GET {url}{path} -> {expect_status} (last {last.get('v')})")
    return last["v"][1]


def schemas_leader(c):
    return c.wait_for_leader("_schemas", 0)


def test_schema_registered_on_node_2_is_read_on_node_3_and_node_1(registry_cluster):
    c = registry_cluster
    schema = avro_record("Reg", ["a"])
    sid = register(c.registry[2], "reg-value", schema)
    for node_id in (3, 1):
        by_id = eventually(c.registry[node_id], f"/schemas/ids/{sid}")
        assert json.loads(by_id["schema"]) == json.loads(schema)
        latest = eventually(c.registry[node_id], "/subjects/reg-value/versions/latest")
        assert (latest["id"], latest["version"], latest["subject"]) == (sid, 1, "reg-value")
    # A second version registered on node 3 (forwarded unless node 3 leads) is visible on node 2.
    sid2 = register(c.registry[3], "reg-value", avro_record("Reg", ["a"]).replace(
        '"fields": [', '"fields": [{"name": "b", "type": "long", "default": 0}, '))
    assert sid2 == sid + 1
    assert eventually(c.registry[2], "/subjects/reg-value/versions/2")["id"] == sid2
    # An incompatible schema is refused with Confluent's 409 whichever node is asked.
    for node_id in (1, 2, 3):
        status, body = http(f"{c.registry[node_id]}/subjects/reg-value/versions", "POST",
                            {"schema": avro_record("Reg", ["a", "c"])})
        assert (status, body["error_code"]) == (409, 409), body


def test_a_write_through_a_follower_is_read_back_at_once_on_every_node(registry_cluster):
    """A forwarded write is answered once the forwarding node's replica has folded it, and a follower asked
    for an id newer than any it knows waits for its replica: clients that register on one node and read (or
    deserialize) on another need no retries."""
    c = registry_cluster
    register(c.registry[1], "ryw-warmup-value", avro_record("RywWarm", ["w"]))  # creates _schemas
    leader = schemas_leader(c)
    followers = [n for n in (1, 2, 3) if n != leader]
    for i in range(10):
        subject = f"ryw-{i}-value"
        sid = register(c.registry[followers[0]], subject, avro_record(f"Ryw{i}", ["a"]))
        status, latest = http(f"{c.registry[followers[0]]}/subjects/{subject}/versions/latest")
        assert status == 200 and latest["id"] == sid, latest
        status, by_id = http(f"{c.registry[followers[1]]}/schemas/ids/{sid}")
        assert status == 200 and json.loads(by_id["schema"])["name"] == f"Ryw{i}", by_id


def test_concurrent_registrations_on_different_nodes_get_distinct_ids(registry_cluster):
    c = registry_cluster
    register(c.registry[1], "warmup-value", avro_record("Warm", ["w"]))  # creates _schemas
    per_node = 8
    results, errors = [], []

    def worker(node_id):
        try:
            for i in range(per_node):
                schema = avro_record(f"N{node_id}S{i}", ["x"])
                sid = register(c.registry[node_id], f"conc-{node_id}-{i}-value", schema)
                results.append((sid, schema, f"conc-{node_id}-{i}-value"))
                # The same new schema registered at once on every node: one id for all.
                shared = avro_record(f"Shared{i}", ["y"])
                results.append((register(c.registry[node_id], f"shared-{node_id}-{i}-value", shared), shared,
                                f"shared-{node_id}-{i}-value"))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(results) == 3 * per_node * 2
    by_schema = {}
    for sid, schema, _ in results:
        by_schema.setdefault(schema, set()).add(sid)
    assert all(len(ids) == 1 for ids in by_schema.values()), by_schema
    ids = [next(iter(v)) for v in by_schema.values()]
    assert len(ids) == len(set(ids)), f"two schemas share an id: {by_schema}"
    # Every node agrees on every id's schema and subject.
    for node_id in (1, 2, 3):
        for sid, schema, subject in results:
            got = eventually(c.registry[node_id], f"/schemas/ids/{sid}")
            assert json.loads(got["schema"]) == json.loads(schema)
            assert eventually(c.registry[node_id], f"/subjects/{subject}/versions/1")["id"] == sid


def test_schemas_ids_and_configs_survive_a_restart_of_all_nodes(registry_cluster):
    c = registry_cluster
    v1 = avro_record("Keep", ["a"])
    id1 = register(c.registry[1], "keep-value", v1)
    id2 = register(c.registry[2], "other-value", avro_record("Other", ["o"]))
    assert http(f"{c.registry[3]}/config/keep-value", "PUT", {"compatibility": "FULL"})[0] == 200
    assert http(f"{c.registry[2]}/config", "PUT", {"compatibility": "FORWARD"})[0] == 200
    assert http(f"{c.registry[1]}/mode/other-value", "PUT", {"mode": "READONLY"})[0] == 200
    for node_id in (1, 2, 3):
        eventually(c.registry[node_id], "/mode/other-value")
    for node_id in (1, 2, 3):
        c.stop(node_id)
    c.start_all()
    for url in c.registry.values():
        wait_for_registry(url)
    for node_id in (1, 2, 3):
        url = c.registry[node_id]
        assert json.loads(eventually(url, f"/schemas/ids/{id1}")["schema"]) == json.loads(v1)
        assert eventually(url, "/subjects/other-value/versions/1")["id"] == id2
        assert http(f"{url}/config/keep-value")[1] == {"compatibilityLevel": "FULL"}
        assert http(f"{url}/config")[1] == {"compatibilityLevel": "FORWARD"}
        assert http(f"{url}/mode/other-value")[1] == {"mode": "READONLY"}
    # Ids continue after the restart; the read-only subject stays read-only.
    assert register(c.registry[3], "new-value", avro_record("New", ["n"])) == max(id1, id2) + 1
    status, body = http(f"{c.registry[2]}/subjects/other-value/versions", "POST",
                        {"schema": avro_record("Other2", ["p"])})
    assert (status, body["error_code"]) == (422, 42205), body


def test_registry_keeps_working_after_the_schemas_leader_is_killed(registry_cluster):
    c = registry_cluster
    v1 = avro_record("Fail", ["a"])
    id1 = register(c.registry[1], "fail-value", v1)
    leader = schemas_leader(c)
    c.kill(leader)
    survivors = [n for n in (1, 2, 3) if n != leader]
    # Reads on the survivors keep answering; a write on a survivor waits for the new leader.
    for node_id in survivors:
        assert eventually(c.registry[node_id], f"/schemas/ids/{id1}")["schema"]
    id2 = register(c.registry[survivors[0]], "fail2-value", avro_record("Fail2", ["b"]))
    id3 = register(c.registry[survivors[1]], "fail3-value", avro_record("Fail3", ["c"]))
    assert len({id1, id2, id3}) == 3
    new_leader = schemas_leader(c)
    assert new_leader in survivors
    for node_id in survivors:
        assert eventually(c.registry[node_id], f"/schemas/ids/{id3}")["schema"]
    # The killed node comes back and catches up.
    c.start(leader)
    wait_for_registry(c.registry[leader])
    assert eventually(c.registry[leader], "/subjects/fail3-value/versions/1")["id"] == id3


def shipment_message_class():
    """riffle.cluster.Shipment {string id = 1; int32 parcels = 2} built at run time (no protoc)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="riffle_shipment.proto", package="riffle.cluster", syntax="proto3")
    msg = fdp.message_type.add(name="Shipment")
    field = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    msg.field.add(name="parcels", number=2, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("riffle.cluster.Shipment"))


def round_trip(c, topic, serializer, deserializer, values):
    """Produces `values` through `serializer` (registry of node 1) to the cluster and reads them back through
    `deserializer` (registry of node 3). Returns (decoded values, raw bytes)."""
    from confluent_kafka import Producer
    from confluent_kafka.serialization import MessageField, SerializationContext

    ctx = SerializationContext(topic, MessageField.VALUE)
    producer = Producer({**kafka_config(c.bootstrap), "acks": "all"})
    for v in values:
        producer.produce(topic, value=serializer(v, ctx))
    assert producer.flush(30) == 0
    raw = read_partitions(c.bootstrap, topic, [0], project=lambda m: m.value())[0]
    return [deserializer(r, ctx) for r in raw], raw


def test_confluent_kafka_serializers_round_trip_avro_protobuf_and_json_through_the_cluster(registry_cluster):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer

    c = registry_cluster
    writer = SchemaRegistryClient({"url": c.registry[1]})
    reader = SchemaRegistryClient({"url": c.registry[3]})

    # Avro
    topic = create_topic(c, unique_topic("sr-avro"), partitions=1)
    schema = json.dumps({"type": "record", "name": "Payment", "namespace": "riffle.cluster",
                         "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}]})
    payments = [{"id": f"p{i}", "amount": i * 1.5} for i in range(5)]
    got, raw = round_trip(c, topic, AvroSerializer(writer, schema), AvroDeserializer(reader), payments)
    assert got == payments
    assert int.from_bytes(raw[0][1:5], "big") == writer.get_latest_version(f"{topic}-value").schema_id

    # Protobuf (confluent-kafka registers a base64 FileDescriptorProto; the reader asks format=serialized)
    topic = create_topic(c, unique_topic("sr-proto"), partitions=1)
    shipment = shipment_message_class()
    shipments = [shipment(id=f"s{i}", parcels=i) for i in range(4)]
    got, _ = round_trip(c, topic, ProtobufSerializer(shipment, writer, {"use.deprecated.format": False}),
                        ProtobufDeserializer(shipment, {"use.deprecated.format": False}, reader), shipments)
    assert [(s.id, s.parcels) for s in got] == [(s.id, s.parcels) for s in shipments]
    assert reader.get_latest_version(f"{topic}-value").schema.schema_type == "PROTOBUF"

    # JSON Schema
    topic = create_topic(c, unique_topic("sr-json"), partitions=1)
    json_schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Task",
                              "type": "object", "properties": {"id": {"type": "string"}, "done": {"type": "boolean"}},
                              "required": ["id"]})
    tasks = [{"id": f"t{i}", "done": bool(i % 2)} for i in range(3)]
    got, _ = round_trip(c, topic, JSONSerializer(json_schema, writer), JSONDeserializer(json_schema,
                                                                                       schema_registry_client=reader),
                        tasks)
    assert got == tasks
    assert reader.get_latest_version(f"{topic}-value").schema.schema_type == "JSON"


def test_kafkajs_confluent_schema_registry_registers_encodes_and_decodes_across_nodes(registry_cluster):
    node = shutil.which("node")
    assert node, "node (Node.js) is not installed"
    assert (JS_NODE_MODULES / "@kafkajs" / "confluent-schema-registry").is_dir(), \
        "run `npm ci` in cluster-tests/interop/js"
    c = registry_cluster
    out = subprocess.run([node, str(JS_CLIENT), c.registry[2], c.registry[3], "kjs"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [line["type"] for line in lines] == ["AVRO", "PROTOBUF", "JSON"]
    assert lines[0]["decoded"] == {"id": "p-1", "amount": 12.5}
    assert lines[1]["decoded"] == {"id": "s-1", "parcels": 3}
    assert lines[2]["decoded"] == {"id": "t-1", "done": True}
    assert len({line["id"] for line in lines}) == 3
