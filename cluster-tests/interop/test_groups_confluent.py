"""confluent-kafka (librdkafka) consumer groups against a real riffle: members split a 12-partition topic with
the range, roundrobin and cooperative-sticky assignors, rebalance when one joins, closes or is SIGKILLed,
static members (group.instance.id) rejoin without a rebalance, and a new member resumes from committed offsets
after the broker restarts (group_scenarios.py)."""

import time

import pytest
from confluent_kafka import ConsumerGroupState

import group_scenarios as gs
from conftest import admin_client, wait_until

CLIENT = "confluent"


def test_confluent_two_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    gs.split_and_consume_exactly_once(CLIENT, gs.group_broker(broker_factory), 2)


def test_confluent_three_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    gs.split_and_consume_exactly_once(CLIENT, gs.group_broker(broker_factory), 3)


def test_confluent_member_join_rebalances_to_three_and_nothing_is_lost(broker_factory):
    gs.rebalance_on_join(CLIENT, gs.group_broker(broker_factory))


def test_confluent_member_close_rebalances_to_survivors_and_nothing_is_lost(broker_factory):
    gs.rebalance_on_leave(CLIENT, gs.group_broker(broker_factory))


def test_confluent_sigkilled_member_session_expires_survivors_take_its_partitions(broker_factory, report_figure):
    taken_over_s = gs.rebalance_on_kill(CLIENT, gs.group_broker(broker_factory))
    report_figure("survivors own all partitions after SIGKILL (s)", round(taken_over_s, 1))


def test_confluent_new_member_resumes_from_committed_offsets_after_broker_restart(broker_factory):
    gs.resume_after_broker_restart(CLIENT, gs.group_broker(broker_factory))


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("range", [{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}]),
        ("roundrobin", [{0, 3, 6, 9}, {1, 4, 7, 10}, {2, 5, 8, 11}]),
    ],
)
def test_confluent_assignor_splits_12_partitions_over_three_members_as_documented(broker_factory, strategy,
                                                                                   expected):
    split = gs.split_and_consume_exactly_once(CLIENT, gs.group_broker(broker_factory), 3,
                                              {"partition.assignment.strategy": strategy})
    assert sorted(split, key=min) == expected


def test_confluent_cooperative_sticky_join_moves_only_some_partitions_incrementally(broker_factory):
    broker = gs.group_broker(broker_factory)
    topic, group = gs.new_topic_and_group(broker)
    with gs.Members(CLIENT, broker, topic, group, {"partition.assignment.strategy": "cooperative-sticky"}) as ms:
        members = [ms.local("m0"), ms.local("m1")]
        before = gs.wait_for_split(members, "2 cooperative members")
        sent = gs.produce(broker.bootstrap, topic, "a", 10)
        gs.wait_consumed(members, set(sent), "2 members consuming batch a")
        history_len = [len(m.state.snapshot()["history"]) for m in members]
        members.append(ms.local("m2"))
        after = gs.wait_for_split(members, "3 cooperative members after m2 joined")
        sent.update(gs.produce(broker.bootstrap, topic, "b", 10))
        gs.wait_consumed(members, set(sent), "3 members consuming batch b")
        gs.assert_exactly_once(members, sent)
        gs.assert_no_errors(members)

        assert all(m.state.incremental_flags == {True} for m in members), "callbacks were not incremental"
        for m, old, new, n in zip(members, before, after, history_len):
            assert new < old and new, f"{m.state.name}: sticky keeps a non-empty part of {sorted(old)}, got {sorted(new)}"
            later = m.state.snapshot()["history"][n:]
            revoked = {p for kind, parts in later if kind == "revoke" for p in parts}
            assigned = {p for kind, parts in later if kind == "assign" for p in parts}
            # Incremental: only the partitions that moved are revoked; the kept ones are never revoked or
            # re-assigned.
            assert revoked == old - new, f"{m.state.name} revoked {sorted(revoked)}; moved {sorted(old - new)}"
            assert not assigned, f"{m.state.name} was assigned {sorted(assigned)} after m2 joined"
            assert not [k for k, _ in later if k == "lost"]
        assert after[2] == (before[0] - after[0]) | (before[1] - after[1])
        assert len(after[2]) == 4 and all(len(a) == 4 for a in after)


def describe(broker, group):
    admin = admin_client(broker.bootstrap)
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    members = {m.group_instance_id: (m.member_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
               for m in desc.members}
    return desc.state, members


def test_confluent_static_member_restart_within_session_timeout_causes_no_rebalance(broker_factory):
    broker = gs.group_broker(broker_factory)
    topic, group = gs.new_topic_and_group(broker)
    with gs.Members(CLIENT, broker, topic, group) as ms:
        a = ms.local("a", {"group.instance.id": "static-a"})
        b = ms.local("b", {"group.instance.id": "static-b"})
        split = gs.wait_for_split([a, b], "2 static members")
        state, before = describe(broker, group)
        assert state == ConsumerGroupState.STABLE
        assert {k: v[1] for k, v in before.items()} == {"static-a": sorted(split[0]), "static-b": sorted(split[1])}
        a_history = a.state.snapshot()["history"]

        ms.close(b)  # a static member's close sends no LeaveGroup
        b2 = ms.local("b2", {"group.instance.id": "static-b"})
        wait_until(lambda: b2.state.snapshot()["assigned"], 5, what="restarted static member assigned")
        assert b2.state.snapshot()["assigned"] == split[1], "restarted static member got another assignment"
        sent = gs.produce(broker.bootstrap, topic, "a", 10)
        gs.wait_consumed([a, b2], set(sent), "static members consuming batch a")
        time.sleep(2.0)  # a rebalance triggered by the rejoin would show in a's callbacks by now

        assert a.state.snapshot()["history"] == a_history, "the other member saw a rebalance"
        assert a.state.snapshot()["assigned"] == split[0]
        state, after = describe(broker, group)
        assert state == ConsumerGroupState.STABLE
        assert after["static-a"] == before["static-a"], "static-a's member id or assignment changed"
        assert after["static-b"][1] == before["static-b"][1]
        assert after["static-b"][0] != before["static-b"][0], "the restarted member has a new member id"
        gs.assert_exactly_once([a, b2], sent)
        gs.assert_no_errors([a, b, b2])
