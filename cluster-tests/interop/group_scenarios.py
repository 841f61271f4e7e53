"""Consumer-group scenarios shared by test_groups_confluent.py and test_groups_kafka_python.py: members split a
12-partition topic, rebalance on join / leave / SIGKILL, and resume from committed offsets after a broker restart.
Every scenario produces distinct values and asserts each one is consumed exactly once by the member that owned
its partition."""

import collections
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import create_topic, kafka_config, unique_topic, wait_until
from group_member import LocalMember, RemoteMember

PARTITIONS = 12
ALL_PARTITIONS = set(range(PARTITIONS))
# Brokers for group tests: the first join of an empty group completes at once, and __consumer_offsets has 4
# partitions instead of 50 (each partition's preallocated index files cost ~26 MB of disk per test broker).
GROUP_BROKER_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "4"}
STABLE_TIMEOUT_S = 30
CONSUME_TIMEOUT_S = 30


def group_broker(broker_factory):
    return broker_factory(GROUP_BROKER_OVERRIDES)


def new_topic_and_group(broker):
    topic = create_topic(broker.bootstrap, unique_topic("grp"), partitions=PARTITIONS)
    return topic, unique_topic("group")


def produce(bootstrap, topic, tag, per_partition):
    """per_partition distinct values to each partition; returns {value: partition}."""
    producer = Producer({**kafka_config(bootstrap), "acks": "all", "linger.ms": 5})
    sent = {}
    for i in range(per_partition):
        for p in range(PARTITIONS):
            value = f"{tag}-p{p}-{i}"
            producer.produce(topic, value=value.encode(), partition=p)
            sent[value] = p
    assert producer.flush(30) == 0, "producer did not deliver every message within 30 s"
    return sent


def assignments(members):
    return [m.state.snapshot()["assigned"] for m in members]


def split_is_complete(members):
    """True when every member owns some partitions, no two own the same one, and together they own all 12."""
    owned = assignments(members)
    if any(not a for a in owned):
        return False
    total = sum(len(a) for a in owned)
    return total == PARTITIONS and set().union(*owned) == ALL_PARTITIONS


def wait_for_split(members, what):
    wait_until(lambda: split_is_complete(members), STABLE_TIMEOUT_S, what=f"{what}: disjoint assignments "
               f"covering all {PARTITIONS} partitions (now {[sorted(a) for a in assignments(members)]}, "
               f"errors {[m.state.errors for m in members]})")
    # Assignments must stay put for a moment: a rebalance still in flight would show up here.
    time.sleep(1.0)
    assert split_is_complete(members), f"{what}: split changed: {[sorted(a) for a in assignments(members)]}"
    return [set(a) for a in assignments(members)]


def all_messages(members):
    out = []
    for m in members:
        out.extend(m.state.snapshot()["messages"])
    return out


def wait_consumed(members, expected_values, what):
    def done():
        seen = {v for _p, _o, v in all_messages(members)}
        return expected_values <= seen

    def progress():
        seen = {v for _p, _o, v in all_messages(members)}
        missing = collections.Counter(v.rsplit("-", 1)[0] for v in expected_values - seen)
        histories = {m.state.name: m.state.snapshot()["history"] for m in members}
        return (f"{len(expected_values & seen)} of {len(expected_values)} (missing per batch-partition: "
                f"{dict(missing)}; callbacks {histories})")

    try:
        wait_until(done, CONSUME_TIMEOUT_S, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; consumed {progress()}; assignments "
                             f"{[sorted(a) for a in assignments(members)]}; errors "
                             f"{[m.state.errors for m in members]}") from None


def assert_exactly_once(members, sent):
    """Every sent value consumed exactly once, from its own partition, and nothing else consumed."""
    msgs = all_messages(members)
    counts = collections.Counter(v for _p, _o, v in msgs)
    twice = sorted(v for v, n in counts.items() if n > 1)
    missing = sorted(set(sent) - set(counts))
    extra = sorted(set(counts) - set(sent))
    assert not twice, f"{len(twice)} values consumed more than once, e.g. {twice[:5]}"
    assert not missing, f"{len(missing)} values never consumed, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} values consumed that were not expected, e.g. {extra[:5]}"
    wrong = [(p, v) for p, _o, v in msgs if sent[v] != p]
    assert not wrong, f"values from the wrong partition: {wrong[:5]}"


def assert_no_errors(members):
    for m in members:
        errors = m.state.snapshot()["errors"]
        assert not errors, f"{m.state.name} reported errors: {errors[:5]}"


def committed_offsets(bootstrap, topic, group):
    consumer = Consumer({**kafka_config(bootstrap), "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


class Members:
    """Starts members and closes (or kills) every one still running at exit, even when the test fails."""

    def __init__(self, client, broker, topic, group, extra=None):
        self.client, self.broker, self.topic, self.group, self.extra = client, broker, topic, group, extra or {}
        self.running = []

    def local(self, name, extra=None):
        m = LocalMember(self.client, self.broker.bootstrap, self.topic, self.group,
                        {**self.extra, **(extra or {})}, name=name)
        self.running.append(m)
        return m

    def remote(self, name, extra=None):
        m = RemoteMember(self.client, self.broker.bootstrap, self.topic, self.group,
                         {**self.extra, **(extra or {})}, name=name)
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


# ---------------------------------------------------------------------------------------------------------
# Scenarios


def split_and_consume_exactly_once(client, broker, count, extra=None):
    """count members split the topic disjointly; 30 messages per partition are each consumed once and the
    group's committed offsets end at 30 everywhere. Returns the assignments."""
    topic, group = new_topic_and_group(broker)
    with Members(client, broker, topic, group, extra) as ms:
        members = [ms.local(f"m{i}") for i in range(count)]
        split = wait_for_split(members, f"{count} members")
        sent = produce(broker.bootstrap, topic, "a", 30)
        wait_consumed(members, set(sent), f"{count} members consuming 360 messages")
        assert_exactly_once(members, sent)
        for m, owned in zip(members, split):
            consumed_from = {p for p, _o, _v in m.state.snapshot()["messages"]}
            assert consumed_from <= owned, f"{m.state.name} owns {sorted(owned)} but read {sorted(consumed_from)}"
        assert_no_errors(members)
    assert committed_offsets(broker.bootstrap, topic, group) == {p: 30 for p in range(PARTITIONS)}
    return split


def rebalance_on_join(client, broker):
    topic, group = new_topic_and_group(broker)
    with Members(client, broker, topic, group) as ms:
        members = [ms.local("m0"), ms.local("m1")]
        wait_for_split(members, "2 members")
        sent = produce(broker.bootstrap, topic, "a", 20)
        wait_consumed(members, set(sent), "2 members consuming batch a")
        members.append(ms.local("m2"))
        split = wait_for_split(members, "3 members after m2 joined")
        sent.update(produce(broker.bootstrap, topic, "b", 20))
        wait_consumed(members, set(sent), "3 members consuming batch b")
        assert_exactly_once(members, sent)
        assert assignments(members) == split, "assignments changed while consuming batch b"
        b_from_m2 = {p for p, _o, v in members[2].state.snapshot()["messages"] if v.startswith("b-")}
        assert b_from_m2 == split[2], f"m2 owns {sorted(split[2])} but read batch b from {sorted(b_from_m2)}"
        assert_no_errors(members)


def rebalance_on_leave(client, broker):
    topic, group = new_topic_and_group(broker)
    with Members(client, broker, topic, group) as ms:
        members = [ms.local(f"m{i}") for i in range(3)]
        wait_for_split(members, "3 members")
        sent = produce(broker.bootstrap, topic, "a", 20)
        wait_consumed(members, set(sent), "3 members consuming batch a")
        leaver = members.pop()
        ms.close(leaver)
        wait_for_split(members, "2 members after m2 closed")
        sent.update(produce(broker.bootstrap, topic, "b", 20))
        wait_consumed(members + [leaver], set(sent), "2 survivors consuming batch b")
        assert_exactly_once(members + [leaver], sent)
        b_from_leaver = [v for _p, _o, v in leaver.state.snapshot()["messages"] if v.startswith("b-")]
        assert not b_from_leaver, f"closed member consumed {b_from_leaver[:5]}"
        assert_no_errors(members + [leaver])


def rebalance_on_kill(client, broker):
    """The victim runs in a child process and is SIGKILLed: after its session times out the two survivors own
    all 12 partitions and read batch b (written after the kill) from the victim's committed offsets."""
    topic, group = new_topic_and_group(broker)
    with Members(client, broker, topic, group) as ms:
        survivors = [ms.local("m0"), ms.local("m1")]
        victim = ms.remote("victim")
        wait_for_split(survivors + [victim], "2 members + victim")
        sent = produce(broker.bootstrap, topic, "a", 20)
        wait_consumed(survivors + [victim], set(sent), "3 members consuming batch a")
        victim_owned = victim.state.snapshot()["assigned"]
        victim.kill9()
        killed_at = time.monotonic()
        sent.update(produce(broker.bootstrap, topic, "b", 20))
        wait_for_split(survivors, "2 survivors after the victim was SIGKILLed")
        taken_over_s = time.monotonic() - killed_at
        wait_consumed(survivors, {v for v in sent if v.startswith("b-")}, "survivors consuming batch b")
        assert_exactly_once(survivors + [victim], sent)
        b_on_victims = {p for p, _o, v in all_messages(survivors) if v.startswith("b-")} & victim_owned
        assert b_on_victims == victim_owned, "survivors did not read the victim's partitions"
        assert_no_errors(survivors)
        assert not [e for e in victim.state.snapshot()["errors"]], victim.state.errors
    return taken_over_s


def resume_after_broker_restart(client, broker):
    """A member consumes batch a and commits it; the broker restarts; batch b is written; a new member of the
    same group reads exactly batch b: the committed offsets survived the restart."""
    topic, group = new_topic_and_group(broker)
    with Members(client, broker, topic, group) as ms:
        first = ms.local("first")
        wait_for_split([first], "1 member")
        sent_a = produce(broker.bootstrap, topic, "a", 10)
        wait_consumed([first], set(sent_a), "first member consuming batch a")
        assert_exactly_once([first], sent_a)
        ms.close(first)
    assert committed_offsets(broker.bootstrap, topic, group) == {p: 10 for p in range(PARTITIONS)}
    broker.restart()
    assert committed_offsets(broker.bootstrap, topic, group) == {p: 10 for p in range(PARTITIONS)}, \
        "committed offsets after the broker restarted"
    sent_b = produce(broker.bootstrap, topic, "b", 5)
    with Members(client, broker, topic, group) as ms:
        second = ms.local("second")
        wait_for_split([second], "1 member after the restart")
        wait_consumed([second], set(sent_b), "second member consuming batch b")
        time.sleep(1.0)
        assert_exactly_once([second], sent_b)
        assert_no_errors([second])
