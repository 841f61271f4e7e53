"""kafkajs consumer groups against a real riffle: each test runs one scenario of js/groups.mjs (members split a
12-partition topic, rebalance on join / disconnect / SIGKILL of a child node process, resume from committed
offsets after the broker restarts), which asserts with node:assert and exits non-zero on the first mismatch."""

import shutil
import subprocess

import pytest

from conftest import INTEROP_DIR, unique_topic
from group_scenarios import GROUP_BROKER_OVERRIDES

JS_DIR = INTEROP_DIR / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "kafkajs").is_dir(),
    reason="node or kafkajs missing (run `npm ci` in cluster-tests/interop/js)",
)


def run_scenario(broker, scenario, topic, group):
    proc = subprocess.run(
        ["node", "groups.mjs", scenario, broker.bootstrap, topic, group],
        cwd=JS_DIR,
        capture_output=True,
        timeout=120,
    )
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, f"kafkajs groups {scenario} exited {proc.returncode}:\n{output}"
    assert f"kafkajs groups {scenario}: ok" in output
    return output


@pytest.fixture
def group_broker(broker_factory):
    return broker_factory(GROUP_BROKER_OVERRIDES)


def test_kafkajs_two_consumers_split_12_partitions_and_consume_each_message_once(group_broker):
    run_scenario(group_broker, "split2", unique_topic("js"), unique_topic("group"))


def test_kafkajs_three_consumers_split_12_partitions_and_consume_each_message_once(group_broker):
    run_scenario(group_broker, "split3", unique_topic("js"), unique_topic("group"))


def test_kafkajs_member_join_rebalances_to_three_and_nothing_is_lost(group_broker):
    run_scenario(group_broker, "join", unique_topic("js"), unique_topic("group"))


def test_kafkajs_member_disconnect_rebalances_to_survivors_and_nothing_is_lost(group_broker):
    run_scenario(group_broker, "leave", unique_topic("js"), unique_topic("group"))


def test_kafkajs_sigkilled_child_member_session_expires_survivors_take_its_partitions(group_broker):
    run_scenario(group_broker, "kill", unique_topic("js"), unique_topic("group"))


def test_kafkajs_new_member_resumes_from_committed_offsets_after_broker_restart(group_broker):
    topic, group = unique_topic("js"), unique_topic("group")
    run_scenario(group_broker, "restart-commit", topic, group)
    group_broker.restart()
    run_scenario(group_broker, "restart-resume", topic, group)
