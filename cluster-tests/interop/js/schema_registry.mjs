// @kafkajs/confluent-schema-registry against riffle's built-in registry; run by
// cluster-tests/cluster/test_schema_registry_cluster.py (and usable on one node) as
//   node schema_registry.mjs <register-url> <decode-url> <subject-prefix>
// Registers an Avro, a Protobuf and a JSON schema through <register-url>, encodes one message with each,
// decodes them with a second client on <decode-url> (which has never seen the schemas, so it fetches them
// by id), and prints one JSON line {type, id, decoded}. Exits non-zero on any error.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { SchemaRegistry, SchemaType } = require("@kafkajs/confluent-schema-registry");

const [registerUrl, decodeUrl, prefix] = process.argv.slice(2);
if (!registerUrl || !decodeUrl || !prefix) {
  console.error("usage: node schema_registry.mjs <register-url> <decode-url> <subject-prefix>");
  process.exit(2);
}

const writer = new SchemaRegistry({ host: registerUrl });
const reader = new SchemaRegistry({ host: decodeUrl });

const cases = [
  {
    type: SchemaType.AVRO,
    schema: JSON.stringify({
      type: "record",
      name: "Payment",
      namespace: "riffle.test",
      fields: [
        { name: "id", type: "string" },
        { name: "amount", type: "double" },
      ],
    }),
    payload: { id: "p-1", amount: 12.5 },
  },
  {
    type: SchemaType.PROTOBUF,
    schema: 'syntax = "proto3";\npackage riffle.test;\nmessage Shipment {\n  string id = 1;\n  int32 parcels = 2;\n}\n',
    payload: { id: "s-1", parcels: 3 },
  },
  {
    type: SchemaType.JSON,
    schema: JSON.stringify({
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      properties: { id: { type: "string" }, done: { type: "boolean" } },
      required: ["id"],
    }),
    payload: { id: "t-1", done: true },
  },
];

try {
  for (const c of cases) {
    const subject = `${prefix}-${c.type.toLowerCase()}-value`;
    const { id } = await writer.register({ type: c.type, schema: c.schema }, { subject });
    const again = await writer.getLatestSchemaId(subject);
    if (again !== id) throw new Error(`latest id of ${subject} is ${again}, registered ${id}`);
    const encoded = await writer.encode(id, c.payload);
    const decoded = await reader.decode(encoded);
    console.log(JSON.stringify({ type: c.type, id, decoded }));
  }
} catch (e) {
  console.error(`schema registry client failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}
