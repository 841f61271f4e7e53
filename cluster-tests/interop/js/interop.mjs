// kafkajs scenarios against a running riffle broker; run by ../test_kafkajs.py as
// `node interop.mjs <scenario> <bootstrap> <topic>`. Exits 0 when every assertion holds; prints the failure otherwise.
import assert from "node:assert/strict";
import { Kafka, CompressionTypes, logLevel } from "kafkajs";

const [scenario, bootstrap, topic] = process.argv.slice(2);
if (!scenario || !bootstrap || !topic) {
  console.error("usage: node interop.mjs <scenario> <bootstrap> <topic>");
  process.exit(2);
}

const kafka = new Kafka({
  clientId: "riffle-interop-kafkajs",
  brokers: [bootstrap],
  logLevel: logLevel.ERROR,
  retry: { retries: 5, initialRetryTime: 200 },
});

function messages(count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push({
      key: i % 4 === 0 ? null : Buffer.from(`key-${i}`),
      value: Buffer.from([i % 256, 0, 255, ...Buffer.from(`value-${i}-` + "x".repeat(i % 50))]),
      headers: i % 3 === 0 ? {} : { idx: Buffer.from(String(i)), bin: Buffer.from([0, 1, 2, i % 256]) },
    });
  }
  return out;
}

async function withAdmin(fn) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function produce(msgs, options = {}) {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    return await producer.send({ topic, acks: -1, messages: msgs, ...options });
  } finally {
    await producer.disconnect();
  }
}

const scenarios = {
  // createTopics / fetchTopicMetadata / fetchTopicOffsets / deleteTopics.
  async admin() {
    await withAdmin(async (admin) => {
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: "retention.ms", value: "600000" }] }],
        waitForLeaders: true,
      });
      assert.equal(created, true, "createTopics returns true for a new topic");
      const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      assert.equal(again, false, "createTopics returns false when the topic exists");

      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(md.topics.length, 1);
      assert.equal(md.topics[0].name, topic);
      assert.deepEqual(md.topics[0].partitions.map((p) => p.partitionId).sort(), [0, 1, 2]);
      for (const p of md.topics[0].partitions) {
        assert.equal(p.partitionErrorCode, 0);
        assert.ok(p.leader >= 0, `partition ${p.partitionId} has a leader`);
        assert.deepEqual(p.replicas, [p.leader]);
      }

      const offsets = await admin.fetchTopicOffsets(topic);
      assert.deepEqual(
        offsets.map((o) => [o.partition, o.low, o.high]).sort((a, b) => a[0] - b[0]),
        [[0, "0", "0"], [1, "0", "0"], [2, "0", "0"]],
      );

      await admin.deleteTopics({ topics: [topic], timeout: 10000 });
      const deadline = Date.now() + 15000;
      while ((await admin.listTopics()).includes(topic)) {
        assert.ok(Date.now() < deadline, "deleted topic still listed after 15 s");
        await new Promise((r) => setTimeout(r, 200));
      }
    });
  },

  // Producer with keys, headers and GZIP; data read back through admin.fetchTopicOffsets.
  async "produce-gzip"() {
    await withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }));
    const msgs = messages(250);
    const first = await produce(msgs.map((m) => ({ ...m, partition: 1 })), { compression: CompressionTypes.GZIP });
    assert.deepEqual(first.map((r) => [r.partition, r.errorCode, r.baseOffset]), [[1, 0, "0"]]);
    const second = await produce(msgs.slice(0, 10).map((m) => ({ ...m, partition: 0 })));
    assert.deepEqual(second.map((r) => [r.partition, r.errorCode, r.baseOffset]), [[0, 0, "0"]]);

    await withAdmin(async (admin) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.deepEqual(
        offsets.map((o) => [o.partition, o.low, o.high]).sort((a, b) => a[0] - b[0]),
        [[0, "0", "10"], [1, "0", "250"]],
      );
      const now = Date.now();
      const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, now + 3600000);
      assert.deepEqual(byTime.map((o) => [o.partition, o.offset]).sort((a, b) => a[0] - b[0]), [[0, "10"], [1, "250"]]);
    });
  },

  // A consumer group (kafkajs has no group-less consumer): every message with exact bytes.
  async "consumer-group"() {
    await withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }));
    const msgs = messages(100);
    await produce(msgs.map((m) => ({ ...m, partition: 0 })), { compression: CompressionTypes.GZIP });

    const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 10000, heartbeatInterval: 1000 });
    await consumer.connect();
    const got = [];
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${msgs.length} messages in 60 s`)), 60000);
        consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message);
            if (got.length === msgs.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(got.map((m) => m.offset), msgs.map((_, i) => String(i)));
    for (let i = 0; i < msgs.length; i++) {
      assert.deepEqual(got[i].key, msgs[i].key, `key at ${i}`);
      assert.deepEqual(got[i].value, msgs[i].value, `value at ${i}`);
      assert.deepEqual(got[i].headers, msgs[i].headers, `headers at ${i}`);
    }
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  await run();
  console.log(`kafkajs ${scenario}: ok`);
  process.exit(0);
} catch (err) {
  console.error(`kafkajs ${scenario} failed:`, err);
  process.exit(1);
}
