"""KIP-848 consumer groups (group.protocol=consumer) through confluent-kafka (librdkafka) against a real riffle:
the broker assigns partitions itself (ConsumerGroupHeartbeat, uniform and range assignors). Two and three members
split a 12-partition topic and consume every message exactly once; a member that closes hands its partitions to
the survivors without losing or repeating a message, a SIGKILLed one after its session times out, and a static
member (group.instance.id) that restarts gets its partitions back; a classic JoinGroup to the group is refused;
ListGroups shows the group with type "consumer" and
AdminClient.describe_consumer_groups describes it (ConsumerGroupDescribe)."""

import collections
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import admin_client, create_topic, kafka_config, unique_topic, wait_until

PARTITIONS = 12
ALL_PARTITIONS = set(range(PARTITIONS))
GROUP_BROKER_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "4",
                          "group.consumer.session.timeout.ms": "15000"}
# The broker's heartbeat interval is 5 s; a rebalance takes a few heartbeats of each member.
STABLE_TIMEOUT_S = 60
CONSUME_TIMEOUT_S = 60


class Member:
    """One group.protocol=consumer member polling in a thread: records what it reads and what it owns."""

    def __init__(self, bootstrap, topic, group, name, extra=None):
        self.name = name
        self.lock = threading.Lock()
        self.messages = []  # (partition, offset, value)
        self.assigned = set()
        self.errors = []
        self.stop = threading.Event()
        self.closed = threading.Event()
        self.consumer = Consumer({
            **kafka_config(bootstrap),
            "group.id": group,
            "group.protocol": "consumer",
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 2000,
            "error_cb": self._on_error,
            **(extra or {}),
        })
        self.consumer.subscribe([topic])
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _on_error(self, err):
        with self.lock:
            self.errors.append(str(err))

    def _run(self):
        try:
            while not self.stop.is_set():
                msg = self.consumer.poll(0.2)
                owned = {tp.partition for tp in self.consumer.assignment()}
                with self.lock:
                    self.assigned = owned
                if msg is None:
                    continue
                if msg.error():
                    with self.lock:
                        self.errors.append(str(msg.error()))
                    continue
                with self.lock:
                    self.messages.append((msg.partition(), msg.offset(), msg.value().decode()))
            self.consumer.close()
        finally:
            self.closed.set()

    def snapshot(self):
        with self.lock:
            return {"assigned": set(self.assigned), "messages": list(self.messages), "errors": list(self.errors)}

    def close(self):
        self.stop.set()
        assert self.closed.wait(30), f"{self.name} did not close within 30 s"
        self.thread.join(5)


class Members:
    def __init__(self, broker, topic, group):
        self.broker, self.topic, self.group = broker, topic, group
        self.running = []

    def start(self, name, extra=None):
        m = Member(self.broker.bootstrap, self.topic, self.group, name, extra)
        self.running.append(m)
        return m

    def close(self, member):
        self.running.remove(member)
        member.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for m in reversed(self.running):
            try:
                m.close()
            except AssertionError:
                if exc[0] is None:
                    raise
        self.running = []


def new_topic_and_group(broker):
    return create_topic(broker.bootstrap, unique_topic("kip848"), partitions=PARTITIONS), unique_topic("g848")


def produce(bootstrap, topic, tag, per_partition):
    producer = Producer({**kafka_config(bootstrap), "acks": "all", "linger.ms": 5})
    sent = {}
    for i in range(per_partition):
        for p in range(PARTITIONS):
            value = f"{tag}-p{p}-{i}"
            producer.produce(topic, value=value.encode(), partition=p)
            sent[value] = p
    assert producer.flush(30) == 0, "producer did not deliver every message within 30 s"
    return sent


def split_complete(members):
    owned = [m.snapshot()["assigned"] for m in members]
    return all(owned) and sum(len(a) for a in owned) == PARTITIONS and set().union(*owned) == ALL_PARTITIONS


def wait_for_split(members, what):
    wait_until(lambda: split_complete(members), STABLE_TIMEOUT_S,
               what=f"{what}: disjoint assignments covering all partitions (now "
                    f"{[sorted(m.snapshot()['assigned']) for m in members]}, errors "
                    f"{[m.snapshot()['errors'] for m in members]})")
    time.sleep(1.0)
    assert split_complete(members), f"{what}: split changed: {[sorted(m.snapshot()['assigned']) for m in members]}"
    return [m.snapshot()["assigned"] for m in members]


def all_messages(members):
    return [msg for m in members for msg in m.snapshot()["messages"]]


def wait_consumed(members, values, what):
    wait_until(lambda: values <= {v for _p, _o, v in all_messages(members)}, CONSUME_TIMEOUT_S,
               what=f"{what} (assignments {[sorted(m.snapshot()['assigned']) for m in members]})")


def assert_exactly_once(members, sent):
    msgs = all_messages(members)
    counts = collections.Counter(v for _p, _o, v in msgs)
    twice = sorted(v for v, n in counts.items() if n > 1)
    missing = sorted(set(sent) - set(counts))
    assert not twice, f"{len(twice)} values consumed more than once, e.g. {twice[:5]}"
    assert not missing, f"{len(missing)} values never consumed, e.g. {missing[:5]}"
    assert all(sent[v] == p for p, _o, v in msgs), "a value came from the wrong partition"


def assert_no_errors(members):
    for m in members:
        assert not m.snapshot()["errors"], f"{m.name} reported errors: {m.snapshot()['errors'][:5]}"


def committed_offsets(bootstrap, topic, group):
    consumer = Consumer({**kafka_config(bootstrap), "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def split_and_consume(broker_factory, count, extra=None):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start(f"m{i}", extra) for i in range(count)]
        split = wait_for_split(members, f"{count} members")
        sent = produce(broker.bootstrap, topic, "a", 30)
        wait_consumed(members, set(sent), f"{count} members consuming {len(sent)} messages")
        assert_exactly_once(members, sent)
        for m, owned in zip(members, split):
            read_from = {p for p, _o, _v in m.snapshot()["messages"]}
            assert read_from <= owned, f"{m.name} owns {sorted(owned)} but read {sorted(read_from)}"
        assert_no_errors(members)
        # Auto-commit (member id + member epoch checked by OffsetCommit) reaches the end of every partition.
        wait_until(lambda: committed_offsets(broker.bootstrap, topic, group) == {p: 30 for p in range(PARTITIONS)},
                   20, what="committed offsets at 30 on every partition")
    return split


def test_kip848_two_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    split = split_and_consume(broker_factory, 2)
    assert sorted(len(s) for s in split) == [6, 6], "uniform assignor balances 12 partitions 6/6"


def test_kip848_three_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    split = split_and_consume(broker_factory, 3)
    assert sorted(len(s) for s in split) == [4, 4, 4], "uniform assignor balances 12 partitions 4/4/4"


def test_kip848_range_assignor_gives_contiguous_ranges(broker_factory):
    split = split_and_consume(broker_factory, 3, {"group.remote.assignor": "range"})
    assert sorted(split, key=min) == [{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}]


def test_kip848_member_close_moves_its_partitions_to_survivors_and_nothing_is_lost(broker_factory):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start(f"m{i}") for i in range(3)]
        wait_for_split(members, "3 members")
        sent = produce(broker.bootstrap, topic, "a", 20)
        wait_consumed(members, set(sent), "3 members consuming batch a")
        leaver = members.pop()
        leaver_owned = leaver.snapshot()["assigned"]
        ms.close(leaver)
        split = wait_for_split(members, "2 members after m2 closed")
        assert leaver_owned <= set().union(*split)
        sent.update(produce(broker.bootstrap, topic, "b", 20))
        wait_consumed(members + [leaver], set(sent), "2 survivors consuming batch b")
        assert_exactly_once(members + [leaver], sent)
        b_from_leaver = [v for _p, _o, v in leaver.snapshot()["messages"] if v.startswith("b-")]
        assert not b_from_leaver, f"closed member consumed {b_from_leaver[:5]}"
        assert_no_errors(members + [leaver])


def test_kip848_group_is_listed_as_consumer_type_and_described_with_its_members(broker_factory):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start(f"m{i}") for i in range(2)]
        wait_for_split(members, "2 members")
        admin = admin_client(broker.bootstrap)
        listed = admin.list_consumer_groups().result(timeout=10)
        ours = [g for g in listed.valid if g.group_id == group]
        assert len(ours) == 1, f"group not listed: {[g.group_id for g in listed.valid]}"
        assert str(ours[0].type).endswith("CONSUMER"), f"listed type {ours[0].type}"

        def described():
            d = admin.describe_consumer_groups([group])[group].result(timeout=10)
            return d if str(d.state).endswith("STABLE") and len(d.members) == 2 else None

        wait_until(lambda: described() is not None, 30, what="group described as stable with 2 members")
        d = described()
        assert str(d.type).endswith("CONSUMER"), f"described type {d.type}"
        owned = [{tp.partition for tp in m.assignment.topic_partitions} for m in d.members]
        assert sorted(len(o) for o in owned) == [6, 6]
        assert set().union(*owned) == ALL_PARTITIONS
        assert {m.client_id for m in d.members} == {"m0", "m1"}


def test_kip848_member_join_moves_some_partitions_to_it_and_nothing_is_lost(broker_factory):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start("m0"), ms.start("m1")]
        before = wait_for_split(members, "2 members")
        sent = produce(broker.bootstrap, topic, "a", 20)
        wait_consumed(members, set(sent), "2 members consuming batch a")
        members.append(ms.start("m2"))
        after = wait_for_split(members, "3 members after m2 joined")
        # uniform is sticky: the first two keep 4 of the 6 partitions they had.
        for old, new in zip(before, after):
            assert new <= old, f"a member got partitions it did not have: {sorted(old)} -> {sorted(new)}"
        sent.update(produce(broker.bootstrap, topic, "b", 20))
        wait_consumed(members, set(sent), "3 members consuming batch b")
        assert_exactly_once(members, sent)
        b_from_m2 = {p for p, _o, v in members[2].snapshot()["messages"] if v.startswith("b-")}
        assert b_from_m2 == after[2], f"m2 owns {sorted(after[2])} but read batch b from {sorted(b_from_m2)}"
        assert_no_errors(members)


def test_kip848_classic_join_to_a_consumer_protocol_group_is_refused(broker_factory):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start("m0")]
        wait_for_split(members, "1 member")
        errors = []
        classic = Consumer({**kafka_config(broker.bootstrap), "group.id": group, "session.timeout.ms": 6000,
                            "error_cb": lambda e: errors.append(e)})
        try:
            classic.subscribe([topic])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not errors:
                msg = classic.poll(0.2)
                if msg is not None and msg.error():
                    errors.append(msg.error())
            assert any("INCONSISTENT_GROUP_PROTOCOL" in str(e) or "protocol" in str(e).lower() for e in errors), \
                f"classic member was not refused: {errors}"
            assert not classic.assignment(), "classic member got partitions of a consumer-protocol group"
        finally:
            classic.close()
        assert members[0].snapshot()["assigned"] == ALL_PARTITIONS


VICTIM_SCRIPT = """
import sys
from confluent_kafka import Consumer
bootstrap, topic, group = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
              "client.id": "victim", "auto.offset.reset": "earliest", "enable.auto.commit": True,
              "auto.commit.interval.ms": 200})
c.subscribe([topic])
while True:
    msg = c.poll(0.2)
    if msg is not None and not msg.error():
        print(msg.partition(), flush=True)
"""


def test_kip848_sigkilled_member_session_expires_and_survivors_take_its_partitions(broker_factory, report_figure):
    """The victim is SIGKILLed without leaving: after the broker's session timeout (15 s here) the survivors own all
    12 partitions (expiry is noticed when a survivor heartbeats)."""
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    victim = subprocess.Popen([sys.executable, "-c", VICTIM_SCRIPT, broker.bootstrap, topic, group],
                              stdout=subprocess.DEVNULL)
    try:
        with Members(broker, topic, group) as ms:
            survivors = [ms.start("m0"), ms.start("m1")]

            def victim_has_some():
                owned = [m.snapshot()["assigned"] for m in survivors]
                return sum(len(a) for a in owned) == 8 and len(set().union(*owned)) == 8

            wait_until(victim_has_some, STABLE_TIMEOUT_S, what="survivors own 8, the victim 4 partitions")
            victim.kill()
            victim.wait(10)
            killed_at = time.monotonic()
            wait_until(lambda: split_complete(survivors), 15 + STABLE_TIMEOUT_S,
                       what="survivors own all 12 partitions after the victim's session expired")
            report_figure("KIP-848 survivors own all partitions after SIGKILL (s)",
                          round(time.monotonic() - killed_at, 1))
            sent = produce(broker.bootstrap, topic, "b", 10)
            wait_consumed(survivors, set(sent), "survivors consuming batch b")
            assert_no_errors(survivors)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)


def test_kip848_static_member_restart_takes_its_old_partitions_back(broker_factory):
    broker = broker_factory(GROUP_BROKER_OVERRIDES)
    topic, group = new_topic_and_group(broker)
    with Members(broker, topic, group) as ms:
        members = [ms.start("m0", {"group.instance.id": "i0"}), ms.start("m1", {"group.instance.id": "i1"})]
        before = wait_for_split(members, "2 static members")
        ms.close(members[1])
        members[1] = ms.start("m1-again", {"group.instance.id": "i1"})
        after = wait_for_split(members, "static member back")
        assert after == before, f"static rejoin moved partitions: {before} -> {after}"
        assert_no_errors(members)
