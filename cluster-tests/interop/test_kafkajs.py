"""kafkajs (a pure-JavaScript client) against a real riffle: each test runs one scenario of js/interop.mjs,
which asserts with node:assert and exits non-zero on the first mismatch."""

import shutil
import subprocess

import pytest

from conftest import INTEROP_DIR, unique_topic

JS_DIR = INTEROP_DIR / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "kafkajs").is_dir(),
    reason="node or kafkajs missing (run `npm ci` in cluster-tests/interop/js)",
)


def run_scenario(broker, scenario, topic):
    proc = subprocess.run(
        ["node", "interop.mjs", scenario, broker.bootstrap, topic],
        cwd=JS_DIR,
        capture_output=True,
        timeout=120,
    )
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, f"kafkajs {scenario} exited {proc.returncode}:\n{output}"
    assert f"kafkajs {scenario}: ok" in output


def test_kafkajs_admin_create_fetch_metadata_offsets_and_delete_topic(broker):
    run_scenario(broker, "admin", unique_topic("js"))


def test_kafkajs_produce_gzip_with_keys_headers_then_fetch_topic_offsets_counts_them(broker):
    run_scenario(broker, "produce-gzip", unique_topic("js"))


def test_kafkajs_consumer_group_reads_exact_bytes(broker):
    run_scenario(broker, "consumer-group", unique_topic("js"))
