"""The built-in schema registry (schema.registry.listeners) seen through confluent-kafka's SchemaRegistryClient
and plain HTTP: register / get by id / versions / compatibility, an AvroSerializer round trip through a real
topic, the Confluent REST details (content types, error codes, case-insensitive booleans) and persistence in
`_schemas` across a restart."""

import json
import urllib.error
import urllib.request

import pytest

from conftest import create_topic, free_port, kafka_config, read_partitions, unique_topic, wait_until

USER_V1 = json.dumps(
    {"type": "record", "name": "User", "namespace": "riffle.test", "fields": [{"name": "id", "type": "long"}]}
)
USER_V2 = json.dumps(
    {
        "type": "record",
        "name": "User",
        "namespace": "riffle.test",
        "fields": [{"name": "id", "type": "long"}, {"name": "email", "type": ["null", "string"], "default": None}],
    }
)
# Adds a field without a default: new readers cannot read old data (BACKWARD-incompatible).
USER_BAD = json.dumps(
    {
        "type": "record",
        "name": "User",
        "namespace": "riffle.test",
        "fields": [{"name": "id", "type": "long"}, {"name": "age", "type": "int"}],
    }
)
PROTO_V1 = 'syntax = "proto3";\npackage riffle.test;\nmessage Order { string id = 1; int64 amount = 2; }\n'
PROTO_FIELD_REMOVED = 'syntax = "proto3";\npackage riffle.test;\nmessage Order { string id = 1; }\n'
# int64 -> string leaves the varint group: incompatible under Confluent's Protobuf rules.
PROTO_FIELD_RETYPED = 'syntax = "proto3";\npackage riffle.test;\nmessage Order { string id = 1; string amount = 2; }\n'
PROTO_FIELD_ADDED = (
    'syntax = "proto3";\npackage riffle.test;\nmessage Order { string id = 1; int64 amount = 2; string note = 3; }\n'
)


def registry_broker(broker_factory):
    """A broker whose registry listens on a free port; returns (broker, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    broker = broker_factory({"schema.registry.listeners": url})
    wait_for_registry(url)
    return broker, url


def wait_for_registry(url):
    def up():
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(up, 30, what=f"schema registry at {url}")


def http(url, method="GET", body=None, content_type="application/vnd.schemaregistry.v1+json"):
    """(status, content type, parsed JSON body) of one request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), json.loads(e.read() or b"null")


def client(url):
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient({"url": url})


def test_register_get_by_id_versions_and_same_id_across_subjects(broker_factory):
    from confluent_kafka.schema_registry import Schema

    _broker, url = registry_broker(broker_factory)
    sr = client(url)
    id1 = sr.register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert sr.get_schema(id1).schema_str.replace(" ", "") == USER_V1.replace(" ", "")
    # Registering again answers the same id; another subject with the same schema shares the id.
    assert sr.register_schema("users-value", Schema(USER_V1, "AVRO")) == id1
    assert sr.register_schema("other-value", Schema(USER_V1, "AVRO")) == id1
    id2 = sr.register_schema("users-value", Schema(USER_V2, "AVRO"))
    assert id2 != id1
    assert sr.get_versions("users-value") == [1, 2]
    latest = sr.get_latest_version("users-value")
    assert (latest.schema_id, latest.version) == (id2, 2)
    assert sr.get_version("users-value", 1).schema_id == id1
    assert sorted(sr.get_subjects()) == ["other-value", "users-value"]
    looked_up = sr.lookup_schema("users-value", Schema(USER_V1, "AVRO"))
    assert (looked_up.schema_id, looked_up.version) == (id1, 1)


def test_incompatible_schema_is_refused_with_409_and_compatibility_check_says_why(broker_factory):
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    _broker, url = registry_broker(broker_factory)
    sr = client(url)
    sr.register_schema("s-value", Schema(USER_V1, "AVRO"))
    assert sr.test_compatibility("s-value", Schema(USER_V2, "AVRO")) is True
    assert sr.test_compatibility("s-value", Schema(USER_BAD, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as e:
        sr.register_schema("s-value", Schema(USER_BAD, "AVRO"))
    assert e.value.http_status_code == 409
    status, _, body = http(
        f"{url}/compatibility/subjects/s-value/versions/latest?verbose=True",
        "POST",
        {"schema": USER_BAD},
    )
    assert status == 200 and body["is_compatible"] is False and "age" in " ".join(body["messages"])
    # With compatibility NONE for the subject the same schema registers.
    sr.set_compatibility("s-value", "NONE")
    assert sr.get_compatibility("s-value") == "NONE"
    sr.register_schema("s-value", Schema(USER_BAD, "AVRO"))
    assert sr.get_versions("s-value") == [1, 2]


def test_protobuf_field_retyping_is_incompatible_and_addition_or_removal_is_not(broker_factory):
    _broker, url = registry_broker(broker_factory)
    status, _, body = http(f"{url}/subjects/orders-value/versions", "POST", {"schema": PROTO_V1, "schemaType": "PROTOBUF"})
    assert status == 200, body
    status, _, got = http(f"{url}/schemas/ids/{body['id']}")
    assert status == 200 and got["schemaType"] == "PROTOBUF" and got["schema"] == PROTO_V1
    status, _, body = http(
        f"{url}/compatibility/subjects/orders-value/versions/latest?verbose=true",
        "POST",
        {"schema": PROTO_FIELD_RETYPED, "schemaType": "PROTOBUF"},
    )
    assert status == 200 and body["is_compatible"] is False and "amount" in " ".join(body["messages"]), body
    # Confluent: removing a field is BACKWARD compatible (protobuf readers skip unknown fields).
    status, _, body = http(
        f"{url}/compatibility/subjects/orders-value/versions/latest",
        "POST",
        {"schema": PROTO_FIELD_REMOVED, "schemaType": "PROTOBUF"},
    )
    assert status == 200 and body["is_compatible"] is True, body
    status, _, body = http(
        f"{url}/subjects/orders-value/versions", "POST", {"schema": PROTO_FIELD_ADDED, "schemaType": "PROTOBUF"}
    )
    assert status == 200, body


def test_rest_details_content_types_errors_deletes_and_case_insensitive_booleans(broker_factory):
    _broker, url = registry_broker(broker_factory)
    for ct in (
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    ):
        status, _, body = http(
            f"{url}/subjects/ct-value/versions",
            "POST",
            {"schema": USER_V1, "metadata": None, "ruleSet": None},
            content_type=ct,
        )
        assert status == 200, (ct, body)
    status, ctype, body = http(f"{url}/subjects/missing/versions")
    assert status == 404 and body["error_code"] == 40401
    assert ctype.startswith("application/vnd.schemaregistry.v1+json")
    status, _, body = http(f"{url}/schemas/ids/9999")
    assert status == 404 and body["error_code"] == 40403
    status, _, body = http(f"{url}/subjects/ct-value/versions", "POST", {"schema": "{not avro"})
    assert status == 422 and body["error_code"] == 42201
    # Soft delete, versions continue; permanent delete, versions restart.
    assert http(f"{url}/subjects/ct-value", "DELETE")[2] == [1]
    assert http(f"{url}/subjects")[2] == []
    assert http(f"{url}/subjects?deleted=TRUE")[2] == ["ct-value"]
    status, _, body = http(f"{url}/subjects/ct-value/versions", "POST", {"schema": USER_V2})
    assert status == 200 and body["version"] == 2
    assert http(f"{url}/subjects/ct-value", "DELETE")[2] == [2]
    assert http(f"{url}/subjects/ct-value?permanent=True", "DELETE")[2] == [1, 2]
    status, _, body = http(f"{url}/subjects/ct-value/versions", "POST", {"schema": USER_V1, "metadata": {}})
    assert status == 200 and body["version"] == 1
    assert http(f"{url}/config")[2] == {"compatibilityLevel": "BACKWARD"}
    assert http(f"{url}/schemas/types")[2] == ["JSON", "PROTOBUF", "AVRO"]
    assert http(f"{url}/mode")[2] == {"mode": "READWRITE"}
    assert http(f"{url}/contexts")[2] == ["."]


def test_avro_serializer_round_trip_through_a_topic(broker_factory):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    broker, url = registry_broker(broker_factory)
    sr = client(url)
    topic = create_topic(broker.bootstrap, unique_topic("avro"))
    serializer = AvroSerializer(sr, USER_V2)
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all"})
    users = [{"id": i, "email": None if i % 2 else f"u{i}@example.com"} for i in range(5)]
    for u in users:
        producer.produce(topic, value=serializer(u, SerializationContext(topic, MessageField.VALUE)))
    assert producer.flush(30) == 0
    values = read_partitions(broker.bootstrap, topic, [0], project=lambda m: m.value())[0]
    deserializer = AvroDeserializer(sr)
    got = [deserializer(v, SerializationContext(topic, MessageField.VALUE)) for v in values]
    assert got == users
    # The Confluent wire format: magic 0 then the id the registry gave.
    schema_id = sr.get_latest_version(f"{topic}-value").schema_id
    assert values[0][0] == 0 and int.from_bytes(values[0][1:5], "big") == schema_id


def test_schemas_survive_a_restart_with_the_same_ids(broker_factory):
    from confluent_kafka.schema_registry import Schema

    broker, url = registry_broker(broker_factory)
    sr = client(url)
    id1 = sr.register_schema("p-value", Schema(USER_V1, "AVRO"))
    id2 = sr.register_schema("p-value", Schema(USER_V2, "AVRO"))
    sr.set_compatibility("p-value", "FULL")
    http(f"{url}/subjects/p-value/versions/1", "DELETE")
    broker.restart()
    wait_for_registry(url)
    sr = client(url)
    assert sr.get_versions("p-value") == [2]
    status, _, body = http(f"{url}/subjects/p-value/versions?deleted=true")
    assert body == [1, 2]
    assert sr.get_schema(id1).schema_str.replace(" ", "") == USER_V1.replace(" ", "")
    assert sr.get_version("p-value", 2).schema_id == id2
    assert sr.get_compatibility("p-value") == "FULL"
    # New ids continue after the old ones; an existing schema keeps its id.
    assert sr.register_schema("q-value", Schema(USER_V2, "AVRO")) == id2
    third = json.dumps({"type": "record", "name": "Other", "fields": [{"name": "x", "type": "string"}]})
    assert sr.register_schema("q2-value", Schema(third, "AVRO")) == max(id1, id2) + 1


def order_message_class():
    """A protobuf message class built at run time (no protoc): riffle.test.Order {string id = 1; int64 amount = 2}."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="riffle_order.proto", package="riffle.test", syntax="proto3")
    msg = fdp.message_type.add(name="Order")
    field = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    msg.field.add(name="amount", number=2, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("riffle.test.Order"))


def test_protobuf_serializer_round_trip_through_a_topic(broker_factory):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    broker, url = registry_broker(broker_factory)
    sr = client(url)
    topic = create_topic(broker.bootstrap, unique_topic("proto"))
    order = order_message_class()
    serializer = ProtobufSerializer(order, sr)
    producer = Producer({**kafka_config(broker.bootstrap), "acks": "all"})
    orders = [order(id=f"o{i}", amount=100 * i) for i in range(4)]
    for o in orders:
        producer.produce(topic, value=serializer(o, SerializationContext(topic, MessageField.VALUE)))
    assert producer.flush(30) == 0
    values = read_partitions(broker.bootstrap, topic, [0], project=lambda m: m.value())[0]
    deserializer = ProtobufDeserializer(order, None, sr)
    got = [deserializer(v, SerializationContext(topic, MessageField.VALUE)) for v in values]
    assert [(o.id, o.amount) for o in got] == [(o.id, o.amount) for o in orders]
    registered = sr.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "PROTOBUF"
    assert int.from_bytes(values[0][1:5], "big") == registered.schema_id
    # The registered descriptor is checked like .proto text: retyping `amount` is incompatible.
    status, _, body = http(
        f"{url}/compatibility/subjects/{topic}-value/versions/latest",
        "POST",
        {"schema": PROTO_FIELD_RETYPED, "schemaType": "PROTOBUF"},
    )
    assert status == 200 and body["is_compatible"] is False, body


def test_error_codes_and_bodies_match_confluent(broker_factory):
    """Each listed Confluent error: HTTP status = first three digits of error_code, a message, the v1 content
    type."""
    _broker, url = registry_broker(broker_factory)

    def err(path, method="GET", body=None):
        status, ctype, out = http(url + path, method, body)
        assert ctype.startswith("application/vnd.schemaregistry.v1+json"), ctype
        assert isinstance(out, dict) and isinstance(out.get("message"), str) and out["message"], out
        code = out["error_code"]
        assert status == int(str(code)[:3]), (status, out)
        return code

    assert http(f"{url}/subjects/e-value/versions", "POST", {"schema": USER_V1})[0] == 200
    assert http(f"{url}/subjects/e-value/versions", "POST", {"schema": USER_V2})[0] == 200
    assert err("/subjects/nope/versions") == 40401
    assert err("/subjects/e-value/versions/7") == 40402
    assert err("/schemas/ids/4242") == 40403
    assert err("/subjects/e-value", "POST", {"schema": USER_BAD}) == 40403  # lookup of an unknown schema
    assert err("/subjects/e-value/versions/1?permanent=true", "DELETE") == 40407
    assert err("/subjects/e-value?permanent=true", "DELETE") == 40405
    assert http(f"{url}/subjects/e-value/versions/1", "DELETE")[0] == 200
    assert err("/subjects/e-value/versions/1", "DELETE") == 40406
    assert http(f"{url}/subjects/e-value", "DELETE")[0] == 200
    assert err("/subjects/e-value", "DELETE") == 40404
    assert err("/config/e-value") == 40408
    assert err("/subjects/f-value/versions", "POST", {"schema": "{nope"}) == 42201
    assert err("/subjects/f-value/versions", "POST", {"schema": "x", "schemaType": "XML"}) == 42201
    assert http(f"{url}/subjects/f-value/versions", "POST", {"schema": USER_V1})[0] == 200
    assert err("/subjects/f-value/versions/zero") == 42202
    assert err("/config", "PUT", {"compatibility": "SIDEWAYS"}) == 42203
    assert err("/mode", "PUT", {"mode": "WRITEONLY"}) == 42204
    assert http(f"{url}/mode/f-value", "PUT", {"mode": "READONLY"})[0] == 200
    assert err("/subjects/f-value/versions", "POST", {"schema": USER_V2}) == 42205
    assert http(f"{url}/subjects/g-value/versions", "POST", {"schema": USER_V1})[0] == 200
    assert err("/subjects/g-value/versions", "POST", {"schema": USER_BAD}) == 409
    assert err("/no/such/path") == 404


def test_import_mode_registers_with_given_ids_and_versions(broker_factory):
    _broker, url = registry_broker(broker_factory)
    assert http(f"{url}/subjects/x-value/versions", "POST", {"schema": USER_V1})[0] == 200
    # IMPORT needs an empty registry (or force=true).
    status, _, body = http(f"{url}/mode", "PUT", {"mode": "IMPORT"})
    assert (status, body["error_code"]) == (422, 42205), body
    assert http(f"{url}/mode/imp-value", "PUT", {"mode": "IMPORT"})[2] == {"mode": "IMPORT"}
    status, _, body = http(f"{url}/subjects/imp-value/versions", "POST", {"schema": USER_V2, "id": 500, "version": 3})
    assert status == 200 and body["id"] == 500, body
    got = http(f"{url}/subjects/imp-value/versions/latest")[2]
    assert (got["id"], got["version"]) == (500, 3)
    # No compatibility check in IMPORT; an id taken by another schema cannot be overwritten.
    status, _, body = http(f"{url}/subjects/imp-value/versions", "POST", {"schema": USER_BAD, "id": 500})
    assert (status, body["error_code"]) == (422, 42205), body
    status, _, body = http(f"{url}/subjects/imp-value/versions", "POST", {"schema": USER_BAD, "id": 501})
    assert status == 200 and body["id"] == 501, body
    assert http(f"{url}/mode/imp-value", "PUT", {"mode": "READWRITE"})[0] == 200
    # Ids handed out afterwards continue after the imported ones.
    other = json.dumps({"type": "record", "name": "After", "fields": [{"name": "z", "type": "int"}]})
    assert http(f"{url}/subjects/after-value/versions", "POST", {"schema": other})[2]["id"] == 502


def test_metadata_rule_set_schemas_listing_and_contexts(broker_factory):
    _broker, url = registry_broker(broker_factory)
    metadata = {"properties": {"owner": "payments"}}
    rule_set = {"domainRules": [{"name": "checkId", "kind": "CONDITION", "type": "CEL", "mode": "WRITE",
                                 "expr": "message.id > 0"}]}
    status, _, body = http(f"{url}/subjects/md-value/versions", "POST",
                           {"schema": USER_V1, "metadata": metadata, "ruleSet": rule_set})
    assert status == 200, body
    sid = body["id"]
    got = http(f"{url}/subjects/md-value/versions/1")[2]
    assert got["metadata"] == metadata and got["ruleSet"] == rule_set
    by_id = http(f"{url}/schemas/ids/{sid}")[2]
    assert by_id["metadata"] == metadata and by_id["ruleSet"] == rule_set
    assert http(f"{url}/subjects/other-value/versions", "POST", {"schema": USER_V2})[0] == 200
    listing = http(f"{url}/schemas")[2]
    assert [(s["subject"], s["version"]) for s in listing] == [("md-value", 1), ("other-value", 1)]
    assert [s["subject"] for s in http(f"{url}/schemas?subjectPrefix=md")[2]] == ["md-value"]
    assert http(f"{url}/contexts")[2] == ["."]
