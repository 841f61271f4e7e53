// kafkajs consumer-group scenarios against a running riffle broker; run by ../test_groups_kafkajs.py as
// `node groups.mjs <scenario> <bootstrap> <topic> <group>`. Members split a 12-partition topic, rebalance on join,
// disconnect and SIGKILL (a child node process running the `member` scenario), and resume from committed offsets
// after a broker restart (`restart-commit`, then the test restarts the broker, then `restart-resume`).
// Exits 0 when every assertion holds; prints the failure otherwise.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";

const [scenario, bootstrap, topic, group, memberName] = process.argv.slice(2);
if (!scenario || !bootstrap || !topic || !group) {
  console.error("usage: node groups.mjs <scenario> <bootstrap> <topic> <group>");
  process.exit(2);
}

const PARTITIONS = 12;
const ALL = [...Array(PARTITIONS).keys()];
const STABLE_TIMEOUT_MS = 30000;
const CONSUME_TIMEOUT_MS = 30000;

const kafka = new Kafka({
  clientId: "riffle-interop-kafkajs-groups",
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 10, initialRetryTime: 200 },
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(100);
  }
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

async function createTopic() {
  await withAdmin((admin) =>
    admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }),
  );
}

// perPartition distinct values to each partition; returns Map value -> partition.
async function produce(tag, perPartition, sent = new Map()) {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const messages = [];
    for (let i = 0; i < perPartition; i++) {
      for (const p of ALL) {
        const value = `${tag}-p${p}-${i}`;
        messages.push({ partition: p, value });
        sent.set(value, p);
      }
    }
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
  return sent;
}

async function committedOffsets() {
  return withAdmin(async (admin) => {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]));
  });
}

const everywhere = (n) => Object.fromEntries(ALL.map((p) => [p, n]));

// A member in this process. It commits after every message (autoCommitThreshold 1).
class Member {
  constructor(name, emit = null) {
    this.name = name;
    this.assigned = new Set();
    this.messages = []; // [partition, offset, value]
    this.joins = 0;
    this.emit = emit;
  }

  async start() {
    this.consumer = kafka.consumer({
      groupId: group,
      sessionTimeout: 6000,
      rebalanceTimeout: 10000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 500,
      retry: { retries: 10, initialRetryTime: 200 },
    });
    const { GROUP_JOIN, REBALANCING } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (e) => {
      this.assigned = new Set(e.payload.memberAssignment[topic] ?? []);
      this.joins++;
      this.emit?.({ assign: [...this.assigned] });
    });
    this.consumer.on(REBALANCING, () => {
      this.assigned = new Set();
      this.emit?.({ assign: [] });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: true });
    await this.consumer.run({
      autoCommitThreshold: 1,
      eachMessage: async ({ partition, message }) => {
        const m = [partition, Number(message.offset), message.value.toString()];
        this.messages.push(m);
        this.emit?.({ msg: m });
      },
    });
    return this;
  }

  async stop() {
    await this.consumer.disconnect();
  }
}

// A member in a child node process (this file, scenario `member`) that the parent can SIGKILL.
class ChildMember {
  constructor(name) {
    this.name = name;
    this.assigned = new Set();
    this.messages = [];
    this.proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "member", bootstrap, topic, group, name], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.exited = new Promise((r) => this.proc.on("exit", (code, signal) => r(signal ?? code)));
    readline.createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const e = JSON.parse(line);
      if (e.assign) this.assigned = new Set(e.assign);
      if (e.msg) this.messages.push(e.msg);
    });
  }

  async stop() {
    this.proc.kill("SIGKILL");
    return this.exited;
  }
}

const sorted = (s) => [...s].sort((a, b) => a - b);

function splitComplete(members) {
  const sets = members.map((m) => m.assigned);
  if (sets.some((s) => s.size === 0)) return false;
  const union = new Set(sets.flatMap((s) => [...s]));
  return union.size === PARTITIONS && sets.reduce((n, s) => n + s.size, 0) === PARTITIONS;
}

async function waitForSplit(members, what) {
  const show = () => `${what}: disjoint assignments covering all partitions (now ${JSON.stringify(members.map((m) => sorted(m.assigned)))})`;
  await waitUntil(() => splitComplete(members), STABLE_TIMEOUT_MS, show);
  await sleep(1000); // a rebalance still in flight would show up here
  assert.ok(splitComplete(members), `${show()} changed`);
  return members.map((m) => new Set(m.assigned));
}

async function waitConsumed(members, values, what) {
  const seen = () => new Set(members.flatMap((m) => m.messages.map((x) => x[2])));
  await waitUntil(() => [...values].every((v) => seen().has(v)), CONSUME_TIMEOUT_MS, () => {
    const s = seen();
    const missing = [...values].filter((v) => !s.has(v));
    return `${what}: ${values.size - missing.length} of ${values.size} consumed, missing e.g. ${missing.slice(0, 5)}; ` +
      `assignments ${JSON.stringify(members.map((m) => sorted(m.assigned)))}`;
  });
}

function assertExactlyOnce(members, sent) {
  const counts = new Map();
  for (const m of members) {
    for (const [p, , v] of m.messages) {
      counts.set(v, (counts.get(v) ?? 0) + 1);
      assert.equal(sent.get(v), p, `${v} consumed from partition ${p}`);
    }
  }
  const twice = [...counts].filter(([, n]) => n > 1).map(([v]) => v);
  const missing = [...sent.keys()].filter((v) => !counts.has(v));
  assert.deepEqual(twice, [], `${twice.length} values consumed more than once`);
  assert.deepEqual(missing, [], `${missing.length} values never consumed`);
  assert.equal(counts.size, sent.size, "values consumed that were never sent");
}

async function split(count) {
  await createTopic();
  const members = [];
  try {
    for (let i = 0; i < count; i++) members.push(await new Member(`m${i}`).start());
    const owned = await waitForSplit(members, `${count} members`);
    const sent = await produce("a", 30);
    await waitConsumed(members, new Set(sent.keys()), `${count} members consuming 360 messages`);
    assertExactlyOnce(members, sent);
    members.forEach((m, i) => {
      const from = new Set(m.messages.map((x) => x[0]));
      assert.ok([...from].every((p) => owned[i].has(p)), `${m.name} owns ${sorted(owned[i])} but read ${sorted(from)}`);
    });
  } finally {
    for (const m of members) await m.stop();
  }
  assert.deepEqual(await committedOffsets(), everywhere(30));
}

const scenarios = {
  split2: () => split(2),
  split3: () => split(3),

  async join() {
    await createTopic();
    const members = [];
    try {
      members.push(await new Member("m0").start(), await new Member("m1").start());
      await waitForSplit(members, "2 members");
      const sent = await produce("a", 20);
      await waitConsumed(members, new Set(sent.keys()), "2 members consuming batch a");
      members.push(await new Member("m2").start());
      const owned = await waitForSplit(members, "3 members after m2 joined");
      await produce("b", 20, sent);
      await waitConsumed(members, new Set(sent.keys()), "3 members consuming batch b");
      assertExactlyOnce(members, sent);
      const bFromM2 = new Set(members[2].messages.filter((x) => x[2].startsWith("b-")).map((x) => x[0]));
      assert.deepEqual(sorted(bFromM2), sorted(owned[2]), "m2 reads batch b from the partitions it owns");
    } finally {
      for (const m of members) await m.stop();
    }
  },

  async leave() {
    await createTopic();
    const members = [];
    try {
      for (let i = 0; i < 3; i++) members.push(await new Member(`m${i}`).start());
      await waitForSplit(members, "3 members");
      const sent = await produce("a", 20);
      await waitConsumed(members, new Set(sent.keys()), "3 members consuming batch a");
      const leaver = members[2];
      await leaver.stop();
      await waitForSplit(members.slice(0, 2), "2 members after m2 disconnected");
      await produce("b", 20, sent);
      await waitConsumed(members, new Set(sent.keys()), "2 survivors consuming batch b");
      assertExactlyOnce(members, sent);
      assert.deepEqual(leaver.messages.filter((x) => x[2].startsWith("b-")), [], "disconnected member read batch b");
    } finally {
      for (const m of members.slice(0, 2)) await m.stop();
    }
  },

  async kill() {
    await createTopic();
    const survivors = [];
    const victim = new ChildMember("victim");
    try {
      survivors.push(await new Member("m0").start(), await new Member("m1").start());
      await waitForSplit([...survivors, victim], "2 members + victim");
      const sent = await produce("a", 20);
      await waitConsumed([...survivors, victim], new Set(sent.keys()), "3 members consuming batch a");
      const victimOwned = new Set(victim.assigned);
      assert.equal(await victim.stop(), "SIGKILL");
      const killedAt = Date.now();
      await produce("b", 20, sent);
      await waitForSplit(survivors, "2 survivors after the victim was SIGKILLed");
      console.log(`survivors own all partitions ${((Date.now() - killedAt) / 1000).toFixed(1)} s after SIGKILL`);
      await waitConsumed(survivors, new Set([...sent.keys()].filter((v) => v.startsWith("b-"))), "survivors consuming batch b");
      assertExactlyOnce([...survivors, victim], sent);
      const bFrom = new Set(survivors.flatMap((m) => m.messages.filter((x) => x[2].startsWith("b-")).map((x) => x[0])));
      assert.ok([...victimOwned].every((p) => bFrom.has(p)), "survivors read the victim's partitions");
    } finally {
      await victim.stop();
      for (const m of survivors) await m.stop();
    }
  },

  async "restart-commit"() {
    await createTopic();
    const first = await new Member("first").start();
    try {
      await waitForSplit([first], "1 member");
      const sent = await produce("a", 10);
      await waitConsumed([first], new Set(sent.keys()), "first member consuming batch a");
      assertExactlyOnce([first], sent);
    } finally {
      await first.stop();
    }
    assert.deepEqual(await committedOffsets(), everywhere(10));
  },

  async "restart-resume"() {
    assert.deepEqual(await committedOffsets(), everywhere(10), "committed offsets after the broker restarted");
    const sent = await produce("b", 5);
    const second = await new Member("second").start();
    try {
      await waitForSplit([second], "1 member after the restart");
      await waitConsumed([second], new Set(sent.keys()), "second member consuming batch b");
      await sleep(1000);
      assertExactlyOnce([second], sent);
    } finally {
      await second.stop();
    }
  },

  // Child process role for `kill`: one member reporting JSON lines until it is killed.
  async member() {
    const out = (e) => process.stdout.write(JSON.stringify(e) + "\n");
    await new Member(memberName ?? "child", out).start();
    await new Promise(() => {});
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  await run();
  console.log(`kafkajs groups ${scenario}: ok`);
  process.exit(0);
} catch (e) {
  console.error(`kafkajs groups ${scenario}: FAILED\n${e.stack ?? e}`);
  process.exit(1);
}
