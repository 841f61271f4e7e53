//! `riffle admin` and `riffle topics apply` against a real three-node cluster: three
//! `riffle serve` processes (free ports, RF 3, min.insync.replicas 2), started once for this
//! test binary and driven through the `riffle` binary exactly as an operator would.

mod admin_common;

use std::time::{Duration, Instant};

use expect_test::expect;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, JoinGroupRequest};
use kafka_protocol::protocol::StrBytes;
use riffle_broker::admin::client::Connection;
use serde_json::Value;

use admin_common::{
    free_port, run_in, shared_cluster, Listeners, Out, TestCluster, CLUSTER_READY_TIMEOUT,
};

/// The cluster of this test binary (a schema registry per node).
fn cluster() -> &'static TestCluster {
    shared_cluster("cluster", Listeners::ADMIN)
}

/// `riffle admin --bootstrap <cluster> <args>`.
fn admin(args: &[&str]) -> Out {
    admin_stdin(args, None)
}

fn admin_stdin(args: &[&str], stdin: Option<&str>) -> Out {
    let c = cluster();
    let mut all = vec!["admin", "--bootstrap", c.bootstrap.as_str()];
    all.extend_from_slice(args);
    run_in(c, &all, stdin)
}

/// Runs an admin command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = admin(args);
    assert_eq!(
        out.code, 0,
        "riffle admin {args:?} failed: {}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let text = ok(&all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

fn create(topic: &str, partitions: i32) {
    ok(&[
        "create-topic",
        topic,
        "--partitions",
        &partitions.to_string(),
        "--replication-factor",
        "3",
    ]);
}

#[test]
fn health_reports_three_reachable_brokers_and_a_controller() {
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    let out = loop {
        let out = admin(&["health"]);
        if out.code == 0 || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let controller = cluster_json()["controller_id"]
        .as_i64()
        .expect("controller");
    assert_eq!(
        out.stdout.lines().nth(4),
        Some(format!("controller                   ok      node {controller}").as_str())
    );
    expect![[r#"
        CHECK                        STATUS  DETAIL
        broker 1                     ok      <node1>
        broker 2                     ok      <node2>
        broker 3                     ok      <node3>"#]]
    .assert_eq(&out.stdout.lines().take(4).collect::<Vec<_>>().join("\n"));
    assert!(out.stdout.trim_end().ends_with("healthy"), "{}", out.stdout);
}

fn cluster_json() -> Value {
    json(&["cluster-info"])
}

#[test]
fn health_fails_with_exit_code_1_when_no_broker_answers() {
    let port = free_port();
    let out = run_in(
        cluster(),
        &[
            "admin",
            "--bootstrap",
            &format!("127.0.0.1:{port}"),
            "health",
        ],
        None,
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(&format!("broker 127.0.0.1:{port}: cannot connect")),
        "{}",
        out.stderr
    );
}

#[test]
fn cluster_info_lists_three_brokers_one_of_them_the_controller() {
    let v = cluster_json();
    let brokers = v["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 3, "{v}");
    assert_eq!(
        brokers.iter().filter(|b| b["controller"] == true).count(),
        1,
        "{v}"
    );
    assert!(!v["cluster_id"].as_str().unwrap_or("").is_empty(), "{v}");
    assert!(brokers.iter().all(|b| b["status"] == "up"), "{v}");
    let text = ok(&["cluster-info"]);
    assert!(
        text.contains("CONTROLLER  STATUS  APIS  PRODUCE  FETCH  METADATA"),
        "{text}"
    );
}

/// The diff lines only: other tests create topics concurrently, which `apply` lists as kept.
fn diff_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn topics_apply_creates_the_seed_topics_then_a_second_run_reports_no_changes() {
    let c = cluster();
    let apply = |extra: &[&str]| {
        let mut args = vec![
            "topics",
            "--bootstrap",
            c.bootstrap.as_str(),
            "apply",
            "examples/topics.toml",
        ];
        args.extend_from_slice(extra);
        let out = run_in(c, &args, None);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        diff_lines(&out.stdout)
    };
    expect![[r#"
        + create fraud.alerts: partitions=4 replication_factor=3 min.insync.replicas=2 retention.ms=2592000000
        + create ml.training_events: partitions=8 replication_factor=3 min.insync.replicas=2 retention.ms=31536000000
        + create notifications.push: partitions=4 replication_factor=3 min.insync.replicas=2 retention.ms=86400000
        + create system.audit: partitions=2 replication_factor=3 min.insync.replicas=2 retention.ms=94608000000
        + create user.attempts: partitions=12 replication_factor=3 min.insync.replicas=2 retention.ms=2592000000
        + create user.sessions: partitions=6 replication_factor=3 min.insync.replicas=2 retention.ms=7776000000
        dry run: 6 change(s) not applied."#]]
    .assert_eq(&apply(&["--dry-run"]));
    expect![[r#"
        + create fraud.alerts: partitions=4 replication_factor=3 min.insync.replicas=2 retention.ms=2592000000
        + create ml.training_events: partitions=8 replication_factor=3 min.insync.replicas=2 retention.ms=31536000000
        + create notifications.push: partitions=4 replication_factor=3 min.insync.replicas=2 retention.ms=86400000
        + create system.audit: partitions=2 replication_factor=3 min.insync.replicas=2 retention.ms=94608000000
        + create user.attempts: partitions=12 replication_factor=3 min.insync.replicas=2 retention.ms=2592000000
        + create user.sessions: partitions=6 replication_factor=3 min.insync.replicas=2 retention.ms=7776000000
        Applied 6 change(s)."#]]
    .assert_eq(&apply(&[]));
    expect![[r#"No changes: 6 topic(s) match examples/topics.toml."#]].assert_eq(&apply(&[]));

    let d = json(&["describe", "user.attempts"]);
    assert_eq!(d["partitions"].as_array().map(Vec::len), Some(12), "{d}");
    for p in d["partitions"].as_array().expect("partitions") {
        assert_eq!(p["replicas"].as_array().map(Vec::len), Some(3), "{p}");
    }
    let config = |name: &str| {
        d["configs"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .map(|c| (c["value"].clone(), c["source"].clone()))
    };
    assert_eq!(
        config("retention.ms"),
        Some((Value::from("2592000000"), Value::from("topic")))
    );
    assert_eq!(
        config("min.insync.replicas"),
        Some((Value::from("2"), Value::from("topic")))
    );

    // A drifted topic is brought back: partitions raised, config reset to the file's value.
    ok(&["alter-config", "system.audit", "retention.ms=1000"]);
    ok(&["create-partitions", "notifications.push", "5"]);
    expect![[r#"
        ~ system.audit: retention.ms 1000 -> 94608000000
        ! notifications.push: has 5 partitions, the file wants 4; Kafka cannot remove partitions
        Applied 1 change(s)."#]]
    .assert_eq(&apply(&[]));
    let d = json(&["describe", "system.audit"]);
    assert!(
        d["configs"].as_array().is_some_and(|cs| cs
            .iter()
            .any(|c| c["name"] == "retention.ms" && c["value"] == "94608000000")),
        "{d}"
    );
}

#[test]
fn produce_consume_and_consumer_lag_show_committed_end_and_lag() {
    create("lag.orders", 3);
    ok(&[
        "produce",
        "lag.orders",
        "--partition",
        "0",
        "--key",
        "k",
        "--header",
        "h=1",
        "first",
    ]);
    let out = admin_stdin(
        &["produce", "lag.orders", "--partition", "0"],
        Some("a\nb\nc\nd\n"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    expect![[r#"
        Produced 4 records to lag.orders-0 at offsets 1..=4.
    "#]]
    .assert_eq(&out.stdout);
    let out = admin_stdin(
        &["produce", "lag.orders", "--partition", "1"],
        Some("x\ny\nz\n"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    expect![[r#"
        PARTITION  OFFSET  KEY   VALUE
        0          0       k     first
        0          1       null  a
        0          2       null  b
        0          3       null  c
    "#]]
    .assert_eq(&ok(&[
        "consume",
        "lag.orders",
        "--from-beginning",
        "--max",
        "4",
        "--group",
        "g.lag",
    ]));
    expect![[r#"
        group: g.lag
        state: Empty
        members: 0

        TOPIC       PARTITION  COMMITTED  END  LAG
        lag.orders  0          4          5    1
        lag.orders  1          0          3    3
        lag.orders  2          0          0    0

        total lag: 4
    "#]]
    .assert_eq(&ok(&["consumer-lag", "g.lag"]));
    // The group's committed offsets are where the next consume starts.
    expect![[r#"
        PARTITION  OFFSET  KEY   VALUE
        0          4       null  d
        1          0       null  x
        1          1       null  y
        1          2       null  z
    "#]]
    .assert_eq(&ok(&["consume", "lag.orders", "--group", "g.lag"]));
    assert_eq!(json(&["consumer-lag", "g.lag"])["total_lag"], 0);

    let first = &json(&["consume", "lag.orders", "--from-beginning", "--max", "1"])[0];
    assert_eq!(first["headers"][0]["key"], "h");
    assert_eq!(first["headers"][0]["value"], "1");

    let groups = ok(&["groups"]);
    assert!(
        groups
            .lines()
            .any(|l| l.starts_with("g.lag") && l.trim_end().ends_with("Empty")),
        "{groups}"
    );
    expect![[r#"
        PARTITION  START  END  RECORDS  RECORDS/S
        0          0      5    5        -
        1          0      3    3        -
        2          0      0    0        -

        total records: 8
        produce rate: 0.0 records/s
    "#]]
    .assert_eq(&ok(&["metrics", "lag.orders", "--interval-ms", "0"]));
}

#[test]
fn produce_with_a_key_uses_kafkas_default_partitioner() {
    create("keyed.events", 4);
    // murmur2("user-42") & 0x7fffffff % 4, as the Java client computes it.
    let expected = riffle_broker::admin::records::partition_for_key(b"user-42", 4);
    let v = json(&["produce", "keyed.events", "--key", "user-42", "hello"]);
    assert_eq!(v["partition"], expected);
}

/// Joins `group` as a member (JoinGroup at its coordinator) so the group has one member.
fn join_group(group: &str) {
    let c = cluster();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut any = Connection::connect(&c.addrs[0]).await.expect("connect");
        let coordinator = loop {
            let r = any
                .send(
                    FindCoordinatorRequest::default()
                        .with_key(StrBytes::from_string(group.to_string())),
                    1,
                    3,
                )
                .await
                .expect("FindCoordinator");
            if r.error_code == 0 {
                break format!("{}:{}", r.host, r.port);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut conn = Connection::connect(&coordinator).await.expect("connect");
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_session_timeout_ms(60_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(StrBytes::from_static_str(""))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(bytes::Bytes::from_static(&[
                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ]))]);
        let r = conn.send_version(req, 3).await.expect("JoinGroup");
        assert_eq!(r.error_code, 0, "JoinGroup: {r:?}");
    });
}

#[test]
fn reset_offset_plans_with_dry_run_commits_and_refuses_while_the_group_has_members() {
    create("reset.events", 2);
    for p in ["0", "1"] {
        let out = admin_stdin(
            &["produce", "reset.events", "--partition", p],
            Some("1\n2\n3\n"),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    expect![[r#"
        TOPIC         PARTITION  CURRENT  NEW
        reset.events  0          -        3
        reset.events  1          -        3

        dry run: group g.reset was not changed
    "#]]
    .assert_eq(&ok(&[
        "reset-offset",
        "g.reset",
        "reset.events",
        "latest",
        "--dry-run",
    ]));
    // A dry run commits nothing.
    let lag = json(&["consumer-lag", "g.reset"]);
    assert_eq!(lag["partitions"].as_array().map(Vec::len), Some(0), "{lag}");

    expect![[r#"
        TOPIC         PARTITION  CURRENT  NEW
        reset.events  0          -        3
        reset.events  1          -        3

        committed new offsets for group g.reset
    "#]]
    .assert_eq(&ok(&["reset-offset", "g.reset", "reset.events", "latest"]));
    assert_eq!(json(&["consumer-lag", "g.reset"])["total_lag"], 0);

    expect![[r#"
        TOPIC         PARTITION  CURRENT  NEW
        reset.events  0          3        1
        reset.events  1          3        1

        committed new offsets for group g.reset
    "#]]
    .assert_eq(&ok(&["reset-offset", "g.reset", "reset.events", "1"]));
    assert_eq!(json(&["consumer-lag", "g.reset"])["total_lag"], 4);

    // Every record is newer than 2001, so the first offset at or after it is the log start.
    ok(&[
        "reset-offset",
        "g.reset",
        "reset.events",
        "--to-datetime",
        "2001-01-01T00:00:00Z",
    ]);
    assert_eq!(json(&["consumer-lag", "g.reset"])["total_lag"], 6);
    // No record is newer than 2100: the end.
    ok(&[
        "reset-offset",
        "g.reset",
        "reset.events",
        "--to-datetime",
        "2100-01-01T00:00:00Z",
    ]);
    assert_eq!(json(&["consumer-lag", "g.reset"])["total_lag"], 0);
    ok(&["reset-offset", "g.reset", "reset.events", "earliest"]);
    assert_eq!(json(&["consumer-lag", "g.reset"])["total_lag"], 6);

    join_group("g.reset");
    let out = admin(&["reset-offset", "g.reset", "reset.events", "latest"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("group g.reset has 1 active member(s)")
            && out
                .stderr
                .contains("stop its consumers before resetting offsets"),
        "{}",
        out.stderr
    );
    assert_eq!(
        json(&["consumer-lag", "g.reset"])["total_lag"],
        6,
        "refused: nothing moved"
    );
}

#[test]
fn export_then_delete_topic_then_import_restores_identical_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(&[
        "create-topic",
        "backup.records",
        "--partitions",
        "3",
        "--replication-factor",
        "3",
        "--config",
        "retention.ms=604800000",
    ]);
    ok(&[
        "produce",
        "backup.records",
        "--partition",
        "0",
        "--key",
        "k1",
        "--header",
        "trace=abc",
        "v1",
    ]);
    ok(&["produce", "backup.records", "--partition", "0", "v2"]);
    let lines: String = (0..300).map(|i| format!("line-{i}\n")).collect();
    let out = admin_stdin(
        &[
            "produce",
            "backup.records",
            "--partition",
            "2",
            "--key",
            "bulk",
        ],
        Some(&lines),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    let first_s = first.to_string_lossy().into_owned();
    let second_s = second.to_string_lossy().into_owned();
    let out = ok(&["export", "backup.records", "--file", &first_s]);
    assert!(
        out.starts_with("Exported 302 records of backup.records (3 partitions)"),
        "{out}"
    );

    // To stdout: the same lines and nothing else (the summary goes to stderr).
    let to_stdout = ok(&["export", "backup.records"]);
    assert_eq!(
        to_stdout,
        std::fs::read_to_string(&first).expect("first export")
    );

    ok(&["delete-topic", "backup.records"]);
    let topics = json(&["topics"]);
    assert!(
        !topics
            .as_array()
            .expect("topics")
            .iter()
            .any(|t| t["topic"] == "backup.records"),
        "{topics}"
    );
    let out = ok(&["import", &first_s]);
    assert_eq!(
        out,
        "Imported 302 records into backup.records (created the topic).\n"
    );
    ok(&["export", "backup.records", "--file", &second_s]);

    let a = std::fs::read_to_string(&first).expect("first export");
    let b = std::fs::read_to_string(&second).expect("second export");
    assert_eq!(a.lines().count(), 303, "header + 302 records");
    assert_eq!(
        a, b,
        "the restored topic's records (and header) differ from the original's"
    );
    let header: Value = serde_json::from_str(a.lines().next().expect("header")).expect("json");
    assert_eq!(header["export"]["configs"]["retention.ms"], "604800000");
    let rec: Value = serde_json::from_str(a.lines().nth(1).expect("record")).expect("json");
    assert_eq!(rec["key"], "azE="); // base64("k1")
    assert_eq!(rec["headers"][0]["key"], "trace");
    assert_eq!(rec["headers"][0]["value"], "YWJj"); // base64("abc")
}

#[test]
fn alter_config_and_create_partitions_change_the_topic() {
    create("alter.me", 2);
    expect![[r#"
        Set retention.ms=123456 on alter.me.
    "#]]
    .assert_eq(&ok(&["alter-config", "alter.me", "retention.ms=123456"]));
    let value = |d: &Value, name: &str| {
        d["configs"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .map(|c| (c["value"].clone(), c["source"].clone()))
    };
    let d = json(&["describe", "alter.me"]);
    assert_eq!(
        value(&d, "retention.ms"),
        Some((Value::from("123456"), Value::from("topic")))
    );
    ok(&["alter-config", "alter.me", "retention.ms="]);
    let d = json(&["describe", "alter.me"]);
    assert_ne!(
        value(&d, "retention.ms").map(|v| v.1),
        Some(Value::from("topic")),
        "{d}"
    );

    ok(&["create-partitions", "alter.me", "4"]);
    let d = json(&["describe", "alter.me"]);
    assert_eq!(d["partitions"].as_array().map(Vec::len), Some(4), "{d}");
    let out = admin(&["create-partitions", "alter.me", "2"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "CreatePartitions for topic alter.me: INVALID_PARTITIONS (Kafka error code 37)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn errors_name_the_broker_and_the_kafka_error_code() {
    let out = admin(&["describe", "no.such.topic"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("riffle admin: broker <node")
            && out.stderr.contains(
                "Metadata for topic no.such.topic: UNKNOWN_TOPIC_OR_PARTITION (Kafka error code 3)"
            ),
        "{}",
        out.stderr
    );
    create("exists.already", 1);
    let out = admin(&[
        "create-topic",
        "exists.already",
        "--replication-factor",
        "3",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "CreateTopics for topic exists.already: TOPIC_ALREADY_EXISTS (Kafka error code 36)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn delete_records_moves_the_log_start_or_reports_the_brokers_refusal() {
    create("trim.me", 1);
    let out = admin_stdin(&["produce", "trim.me"], Some("1\n2\n3\n4\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = admin(&["delete-records", "trim.me", "--before", "2"]);
    if out.code == 0 {
        let d = json(&["describe", "trim.me"]);
        assert_eq!(d["partitions"][0]["start_offset"], 2, "{d}");
        assert_eq!(d["records"], 2, "{d}");
    } else {
        // Riffle refuses DeleteRecords on replicated partitions (POLICY_VIOLATION); the CLI
        // must say so naming the leader and the code.
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .contains("DeleteRecords for trim.me-0: POLICY_VIOLATION (Kafka error code 44)"),
            "{}",
            out.stderr
        );
    }
}

fn registry(method: &str, path: &str, body: Option<Value>) -> Value {
    let url = cluster().registries[0].clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    loop {
        match rt.block_on(riffle_broker::admin::schemas::http(
            &url,
            method,
            path,
            body.as_ref(),
        )) {
            Ok((_, v)) => return v,
            Err(e) if Instant::now() < deadline && e.to_string().contains("Connection refused") => {
                std::thread::sleep(Duration::from_millis(300))
            }
            Err(e) => panic!("registry {method} {path}: {e}"),
        }
    }
}

#[test]
fn schemas_export_then_delete_then_import_with_ids_restores_identical_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let avro = |fields: &str| {
        serde_json::json!({"schema": format!(
            r#"{{"type":"record","name":"Order","fields":[{fields}]}}"#
        )})
    };
    registry(
        "POST",
        "/subjects/orders-value/versions",
        Some(avro(r#"{"name":"id","type":"long"}"#)),
    );
    registry(
        "POST",
        "/subjects/orders-value/versions",
        Some(avro(
            r#"{"name":"id","type":"long"},{"name":"note","type":"string","default":""}"#,
        )),
    );
    registry(
        "POST",
        "/subjects/users-key/versions",
        Some(serde_json::json!({"schema": "{\"type\":\"string\"}"})),
    );
    let url = cluster().registries[0].clone();
    let first = dir.path().join("schemas.jsonl");
    let second = dir.path().join("again.jsonl");
    let first_s = first.to_string_lossy().into_owned();
    let second_s = second.to_string_lossy().into_owned();
    expect![[r#"
        Exported 3 schema version(s) of 2 subject(s).
    "#]]
    .assert_eq(&ok(&[
        "schemas",
        "--registry",
        &url,
        "export",
        "-f",
        &first_s,
    ]));
    for s in ["orders-value", "users-key"] {
        registry("DELETE", &format!("/subjects/{s}"), None);
        registry("DELETE", &format!("/subjects/{s}?permanent=true"), None);
    }
    assert_eq!(registry("GET", "/subjects", None), serde_json::json!([]));
    expect![[r#"
        Imported 3 schema version(s) with their ids and versions.
    "#]]
    .assert_eq(&ok(&[
        "schemas",
        "--registry",
        &url,
        "import",
        &first_s,
        "--preserve-ids",
    ]));
    ok(&["schemas", "--registry", &url, "export", "-f", &second_s]);
    let a = std::fs::read_to_string(&first).expect("first");
    let b = std::fs::read_to_string(&second).expect("second");
    assert_eq!(a.lines().count(), 3, "{a}");
    assert_eq!(a, b, "restored schemas differ (ids, versions or text)");
}
