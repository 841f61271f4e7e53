"""kcat (Debian's package, librdkafka inside) against a real riffle: produce with keys and headers, consume
exact bytes back with a format string, and list metadata as JSON."""

import json
import shutil
import subprocess

import pytest

from conftest import create_topic, unique_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (apt-get install kcat)")


def kcat(bootstrap, *args, stdin=b"", timeout_s=60):
    proc = subprocess.run(
        ["kcat", "-b", bootstrap, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout_s,
    )
    assert proc.returncode == 0, f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def test_kcat_produce_keyed_lines_then_consume_exact_key_value_bytes(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat"))
    lines = [b"k1|hello", b"k2|w\xc3\xb6rld with spaces\tand tab", b"|empty key", b"k4|\x01\x02\xfe\xff", b"k5|last"]
    kcat(broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", "|", stdin=b"\n".join(lines) + b"\n")

    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-e", "-o", "beginning", "-f", "%o:%k|%s\n")
    assert out.split(b"\n")[:-1] == [b"%d:%s" % (i, line) for i, line in enumerate(lines)]


def test_kcat_produce_with_key_and_headers_then_consume_shows_them(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat"))
    kcat(broker.bootstrap, "-P", "-t", topic, "-p", "0", "-k", "the-key", "-H", "trace=abc123", "-H", "color=blue",
         "-H", "trace=second", stdin=b"one\ntwo\n")

    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-e", "-o", "beginning", "-f", "%k|%s|%h\n")
    assert out == b"the-key|one|trace=abc123,color=blue,trace=second\nthe-key|two|trace=abc123,color=blue,trace=second\n"


def test_kcat_consume_from_offset_and_count_returns_that_slice(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat"))
    kcat(broker.bootstrap, "-P", "-t", topic, "-p", "0", stdin=b"".join(b"m%d\n" % i for i in range(20)))
    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "7", "-c", "5", "-e", "-f", "%o=%s\n")
    assert out == b"".join(b"%d=m%d\n" % (i, i) for i in range(7, 12))
    # Negative offsets count back from the end (kcat turns -o -3 into ListOffsets latest minus 3).
    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "-3", "-e", "-f", "%o=%s\n")
    assert out == b"17=m17\n18=m18\n19=m19\n"


def test_kcat_metadata_json_lists_broker_and_topic_partitions(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat"), partitions=3)
    md = json.loads(kcat(broker.bootstrap, "-L", "-J"))
    assert len(md["brokers"]) == 1
    broker_entry = md["brokers"][0]
    assert broker_entry["name"] == broker.bootstrap
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics
    partitions = sorted(topics[topic]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in partitions] == [0, 1, 2]
    for p in partitions:
        assert p["leader"] == broker_entry["id"]
        assert [r["id"] for r in p["replicas"]] == [broker_entry["id"]]
        assert [r["id"] for r in p["isrs"]] == [broker_entry["id"]]


def test_kcat_produce_to_missing_topic_auto_creates_it_when_enabled(broker_factory):
    broker = broker_factory({"auto.create.topics.enable": "true", "num.partitions": "4"})
    topic = unique_topic("kcat-auto")
    kcat(broker.bootstrap, "-P", "-t", topic, stdin=b"created by produce\n")
    md = json.loads(kcat(broker.bootstrap, "-L", "-J", "-t", topic))
    (entry,) = md["topics"]
    assert entry["topic"] == topic
    assert sorted(p["partition"] for p in entry["partitions"]) == [0, 1, 2, 3]
