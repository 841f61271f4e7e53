"""kafka-python consumer groups against a real riffle: members split a 12-partition topic, rebalance when one
joins, closes or is SIGKILLed, and resume from committed offsets after the broker restarts (group_scenarios.py)."""

import group_scenarios as gs

CLIENT = "kafka-python"


def test_kafka_python_two_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    gs.split_and_consume_exactly_once(CLIENT, gs.group_broker(broker_factory), 2)


def test_kafka_python_three_consumers_split_12_partitions_and_consume_each_message_once(broker_factory):
    gs.split_and_consume_exactly_once(CLIENT, gs.group_broker(broker_factory), 3)


def test_kafka_python_member_join_rebalances_to_three_and_nothing_is_lost(broker_factory):
    gs.rebalance_on_join(CLIENT, gs.group_broker(broker_factory))


def test_kafka_python_member_close_rebalances_to_survivors_and_nothing_is_lost(broker_factory):
    gs.rebalance_on_leave(CLIENT, gs.group_broker(broker_factory))


def test_kafka_python_sigkilled_member_session_expires_survivors_take_its_partitions(broker_factory, report_figure):
    taken_over_s = gs.rebalance_on_kill(CLIENT, gs.group_broker(broker_factory))
    report_figure("survivors own all partitions after SIGKILL (s)", round(taken_over_s, 1))


def test_kafka_python_new_member_resumes_from_committed_offsets_after_broker_restart(broker_factory):
    gs.resume_after_broker_restart(CLIENT, gs.group_broker(broker_factory))
