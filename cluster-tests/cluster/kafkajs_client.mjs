// kafkajs against a three-node riffle cluster; run by test_cluster.py as
//   node kafkajs_client.mjs produce <bootstrap> <topic>   (stdin: JSON [{partition, key, value}], hex strings)
//   node kafkajs_client.mjs consume <bootstrap> <topic> <count>
// `consume` joins a fresh consumer group, reads from the beginning until <count> messages arrived and prints
// one JSON line per message {partition, offset, key, value} (hex; key null when absent). Exits non-zero on error.
import { createRequire } from "node:module";

// kafkajs is installed once, in ../interop/js (npm ci there).
const require = createRequire(new URL("../interop/js/package.json", import.meta.url));
const { Kafka, logLevel } = require("kafkajs");

const [command, bootstrap, topic, countArg] = process.argv.slice(2);
if (!command || !bootstrap || !topic) {
  console.error("usage: node kafkajs_client.mjs produce|consume <bootstrap> <topic> [count]");
  process.exit(2);
}

const kafka = new Kafka({
  clientId: "riffle-cluster-kafkajs",
  brokers: bootstrap.split(","),
  logLevel: logLevel.ERROR,
  retry: { retries: 10, initialRetryTime: 200 },
});

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const hex = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString("hex"));

async function produce() {
  const input = JSON.parse(await readStdin());
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  await producer.connect();
  try {
    // One send per message keeps the per-partition order equal to the input order.
    for (const m of input) {
      await producer.send({
        topic,
        acks: -1,
        messages: [{ partition: m.partition, key: m.key === null ? null : Buffer.from(m.key, "hex"), value: Buffer.from(m.value, "hex") }],
      });
    }
  } finally {
    await producer.disconnect();
  }
  console.error(`kafkajs produce: ${input.length} acknowledged`);
}

async function consume() {
  const count = Number(countArg);
  const consumer = kafka.consumer({ groupId: `cluster-kafkajs-${process.pid}-${Date.now()}` });
  await consumer.connect();
  let seen = 0;
  const lines = [];
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        lines.push(JSON.stringify({ partition, offset: Number(message.offset), key: hex(message.key), value: hex(message.value) }));
        seen += 1;
        if (seen >= count) resolveDone();
      },
    });
    const timer = setTimeout(() => {
      console.error(`kafkajs consume: timed out after 60 s with ${seen} of ${count} messages`);
      process.exit(1);
    }, 60000);
    await done;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  process.stdout.write(lines.join("\n") + "\n");
}

const commands = { produce, consume };
if (!commands[command]) {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
commands[command]().then(
  () => process.exit(0),
  (e) => {
    console.error(`kafkajs ${command} failed: ${e.stack || e}`);
    process.exit(1);
  },
);
