//! Loading broker settings: files, environment, overrides, errors, warnings, describe, dynamic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use riffle_config::{
    parse_override, BrokerConfig, CleanupPolicy, ConfigError, ConfigSource, ConfigType, Durability,
    Listener, TimestampType, TopicConfig, Warning,
};

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn load_file(path: &Path) -> Result<(BrokerConfig, Vec<Warning>), ConfigError> {
    BrokerConfig::load(Some(path), &[], no_env())
}

fn err_of(kv: &[(&str, &str)]) -> ConfigError {
    BrokerConfig::from_pairs(&pairs(kv)).expect_err("should be rejected")
}

fn listener(name: &str, host: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        host: host.into(),
        port,
    }
}

/// The `config/server.properties` shipped with Kafka 3.x (ZooKeeper mode), comments trimmed.
const KAFKA_3_SERVER_PROPERTIES: &str = r#"
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.

############################# Server Basics #############################

# The id of the broker. This must be set to a unique integer for each broker.
broker.id=0

############################# Socket Server Settings #############################

#listeners=PLAINTEXT://:9092
#advertised.listeners=PLAINTEXT://your.host.name:9092
#listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL

num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################

log.dirs=/tmp/kafka-logs
num.partitions=1
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################

#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################

log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000

############################# Zookeeper #############################

zookeeper.connect=localhost:2181
zookeeper.connection.timeout.ms=18000

############################# Group Coordinator Settings #############################

group.initial.rebalance.delay.ms=0
"#;

#[test]
fn defaults_are_kafkas_with_riffles_exceptions() {
    let (c, warnings) = BrokerConfig::from_pairs(&[]).expect("defaults load");
    assert!(warnings.is_empty());
    assert_eq!(c.node_id, 1);
    assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
    assert_eq!(c.listeners, vec![listener("PLAINTEXT", "127.0.0.1", 9092)]);
    assert_eq!(c.advertised_listeners, c.listeners);
    assert!(!c.auto_create_topics_enable);
    assert!(c.delete_topic_enable);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert_eq!(c.min_insync_replicas, 1);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.log_retention_check_interval_ms, 5000);
    assert_eq!(
        riffle_config::LOG_RETENTION_CHECK_INTERVAL_MS_DEFAULT,
        c.log_retention_check_interval_ms
    );
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(c.offsets_topic_num_partitions, 50);
    assert_eq!(c.offsets_topic_replication_factor, 3);
    assert_eq!(c.offsets_retention_minutes, 10080);
    assert_eq!(c.group_min_session_timeout_ms, 6000);
    assert_eq!(c.group_max_session_timeout_ms, 1_800_000);
    assert_eq!(c.transactional_id_expiration_ms, 604_800_000);
    assert_eq!(c.producer_id_expiration_ms, 86_400_000);
    assert_eq!(
        c.metrics_listeners,
        vec!["http://127.0.0.1:9644".to_string()]
    );
    assert!(c.controller_quorum_voters.is_empty());
    assert_eq!(c.durability, Durability::Fsync);
    assert_eq!(c.topic_defaults, TopicConfig::default());
    assert_eq!(c.topic_defaults.retention_ms, 604_800_000);
    assert_eq!(c.topic_defaults.segment_bytes, 1_073_741_824);
    assert!(c.explicit.is_empty());
    assert_eq!(BrokerConfig::default(), c);
}

#[test]
fn kafka_3_server_properties_loads_with_one_warning_per_ignored_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "server.properties", KAFKA_3_SERVER_PROPERTIES);
    let (c, warnings) = load_file(&path).expect("Kafka's shipped file loads");
    assert_eq!(c.node_id, 0);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.topic_defaults.retention_ms, 168 * 3_600_000);
    assert_eq!(c.topic_defaults.segment_bytes, 1_073_741_824);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);

    let mut warned: Vec<String> = warnings.iter().map(|w| w.0.clone()).collect();
    warned.sort();
    let mut expected: Vec<String> = [
        "num.io.threads",
        "num.network.threads",
        "num.recovery.threads.per.data.dir",
        "socket.receive.buffer.bytes",
        "socket.send.buffer.bytes",
        "transaction.state.log.min.isr",
        "transaction.state.log.replication.factor",
        "zookeeper.connect",
        "zookeeper.connection.timeout.ms",
    ]
    .iter()
    .map(|k| format!("ignoring Kafka setting `{k}`: no meaning for Riffle"))
    .collect();
    expected.sort();
    assert_eq!(warned, expected);
    assert_eq!(
        c.ignored_kafka_settings()
            .get("zookeeper.connect")
            .map(String::as_str),
        Some("localhost:2181")
    );
}

#[test]
fn kafka_kraft_server_properties_drops_controller_listener_and_reads_voters() {
    let text = "process.roles=broker,controller\n\
                node.id=1\n\
                controller.quorum.voters=1@localhost:9093\n\
                listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
                inter.broker.listener.name=PLAINTEXT\n\
                advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n\
                controller.listener.names=CONTROLLER\n\
                listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
                log.dirs=/tmp/kraft-combined-logs\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "server.properties", text);
    let (c, warnings) = load_file(&path).expect("KRaft file loads");
    assert_eq!(c.listeners, vec![listener("PLAINTEXT", "0.0.0.0", 9092)]);
    assert_eq!(
        c.advertised_listeners,
        vec![listener("PLAINTEXT", "localhost", 9092)]
    );
    assert_eq!(
        c.controller_quorum_voters,
        vec![(1, "localhost".to_string(), 9093)]
    );
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings.iter().any(|w| w
        .0
        .starts_with("ignoring Kafka setting `controller.listener.names`")
        && w.0.contains("CONTROLLER")));
}

#[test]
fn properties_file_reports_syntax_error_with_path_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "bad.properties",
        "num.partitions=1\nlog.dirs=\\u00zz\n",
    );
    let err = load_file(&path).expect_err("bad escape");
    match &err {
        ConfigError::Parse { line, .. } => assert_eq!(*line, Some(2)),
        other => panic!("expected Parse, got {other:?}"),
    }
    assert!(err.to_string().contains("bad.properties:2:"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = load_file(Path::new("/nonexistent/riffle.toml")).expect_err("no file");
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(
        err.to_string().contains("/nonexistent/riffle.toml"),
        "{err}"
    );
}

#[test]
fn toml_file_accepts_quoted_dotted_keys_and_nested_tables() {
    let text = r#"
"node.id" = 3
listeners = ["PLAINTEXT://127.0.0.1:19092", "INTERNAL://127.0.0.1:19093"]
[log]
dirs = ["/d1", "/d2"]
"cleanup.policy" = ["delete", "compact"]
cleaner.min.cleanable.ratio = 0.25
[auto.create.topics]
enable = true
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "riffle.toml", text);
    let (c, warnings) = load_file(&path).expect("toml loads");
    assert!(warnings.is_empty());
    assert_eq!(c.node_id, 3);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/d1"), PathBuf::from("/d2")]);
    assert_eq!(c.listeners.len(), 2);
    assert!(c.auto_create_topics_enable);
    assert_eq!(
        c.topic_defaults.cleanup_policy,
        CleanupPolicy::CompactDelete
    );
    assert_eq!(c.topic_defaults.min_cleanable_dirty_ratio, 0.25);
}

#[test]
fn toml_is_chosen_by_extension_only() {
    // The same TOML text in a .properties file is read as properties and fails on its key.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "riffle.properties", "[log]\ndirs = \"/x\"\n");
    let err = load_file(&path).expect_err("not TOML");
    assert_eq!(err.key(), Some("[log]"));
}

#[test]
fn toml_syntax_error_is_parse_error_with_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "riffle.toml", "\"node.id\" = 1\nlisteners = [\n");
    let err = load_file(&path).expect_err("bad toml");
    assert!(
        matches!(err, ConfigError::Parse { line: Some(_), .. }),
        "{err:?}"
    );
}

#[test]
fn example_toml_loads_without_warnings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("riffle.example.toml");
    let (c, warnings) = load_file(&path).expect("example loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.durability, Durability::Fsync);
    assert_eq!(c.log_retention_check_interval_ms, 5000);
    assert_eq!(c.topic_defaults, TopicConfig::default());
}

#[test]
fn precedence_is_file_then_env_then_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "server.properties",
        "num.partitions=2\nlog.dirs=/file\nnode.id=5\n",
    );
    let env = pairs(&[("RIFFLE_NUM_PARTITIONS", "3"), ("RIFFLE_LOG_DIRS", "/env")]);
    let overrides = pairs(&[("num.partitions", "4")]);
    let (c, _) = BrokerConfig::load(Some(&path), &overrides, env).expect("loads");
    assert_eq!(c.num_partitions, 4, "override beats env and file");
    assert_eq!(c.log_dirs, vec![PathBuf::from("/env")], "env beats file");
    assert_eq!(c.node_id, 5, "file beats default");
    assert_eq!(
        c.explicit.get("num.partitions"),
        Some(&("4".to_string(), ConfigSource::StaticBroker))
    );
}

#[test]
fn later_source_wins_even_with_lower_priority_unit_or_alias() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "server.properties",
        "log.retention.ms=1000\nlog.dirs=/file\n",
    );
    let overrides = pairs(&[("log.retention.hours", "2"), ("log.dir", "/override")]);
    let (c, _) = BrokerConfig::load(Some(&path), &overrides, no_env()).expect("loads");
    assert_eq!(c.topic_defaults.retention_ms, 2 * 3_600_000);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/override")]);
}

#[test]
fn retention_ms_beats_minutes_beats_hours_in_one_source() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[
        ("log.retention.hours", "1"),
        ("log.retention.minutes", "2"),
        ("log.retention.ms", "3"),
    ]))
    .expect("loads");
    assert_eq!(c.topic_defaults.retention_ms, 3);
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[
        ("log.retention.hours", "1"),
        ("log.retention.minutes", "2"),
    ]))
    .expect("loads");
    assert_eq!(c.topic_defaults.retention_ms, 120_000);
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[("log.retention.hours", "-1")])).expect("loads");
    assert_eq!(c.topic_defaults.retention_ms, -1, "negative means forever");
}

#[test]
fn roll_ms_beats_roll_hours() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[("log.roll.hours", "2")])).expect("loads");
    assert_eq!(c.topic_defaults.segment_ms, 7_200_000);
    let (c, _) =
        BrokerConfig::from_pairs(&pairs(&[("log.roll.hours", "2"), ("log.roll.ms", "500")]))
            .expect("loads");
    assert_eq!(c.topic_defaults.segment_ms, 500);
}

#[test]
fn log_dirs_wins_over_log_dir_and_broker_id_is_node_id() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[
        ("log.dir", "/one"),
        ("log.dirs", "/a, /b"),
        ("broker.id", "7"),
    ]))
    .expect("loads");
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(c.node_id, 7);
}

#[test]
fn node_id_and_broker_id_must_agree() {
    let err = err_of(&[("node.id", "1"), ("broker.id", "2")]);
    assert_eq!(err.key(), Some("broker.id"));
    assert!(err.to_string().contains("node.id (1)"), "{err}");
    BrokerConfig::from_pairs(&pairs(&[("node.id", "2"), ("broker.id", "2")])).expect("agree");
}

#[test]
fn env_maps_riffle_names_and_skips_riffle_log_and_other_vars() {
    let env = pairs(&[
        ("RIFFLE_LOG", "debug"),
        ("RIFFLE_BIN", "/target/release/riffle"),
        ("RIFFLE_KILL9_MESSAGES", "100"),
        ("RIFFLE_INTEROP_STRICT", "1"),
        ("RIFFLE_TEST_SEED", "42"),
        ("PATH", "/usr/bin"),
        ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ("RIFFLE_AUTO_CREATE_TOPICS_ENABLE", "true"),
        ("RIFFLE_LOG_RETENTION_CHECK_INTERVAL_MS", "1234"),
    ]);
    let (c, warnings) = BrokerConfig::load(None, &[], env).expect("loads");
    assert!(warnings.is_empty());
    assert!(c.auto_create_topics_enable);
    assert_eq!(c.log_retention_check_interval_ms, 1234);
}

#[test]
fn env_unknown_riffle_var_is_an_error_naming_the_variable() {
    let err =
        BrokerConfig::load(None, &[], pairs(&[("RIFFLE_NUM_PARTITION", "3")])).expect_err("typo");
    assert!(matches!(err.root(), ConfigError::UnknownKey { key } if key == "num.partition"));
    assert_eq!(
        err.to_string(),
        "environment variable RIFFLE_NUM_PARTITION: unknown setting `num.partition` \
         (not a Kafka or Riffle setting)"
    );
}

#[test]
fn env_ignored_kafka_key_warns() {
    let (_, warnings) =
        BrokerConfig::load(None, &[], pairs(&[("RIFFLE_NUM_IO_THREADS", "8")])).expect("loads");
    assert_eq!(
        warnings,
        vec![Warning(
            "ignoring Kafka setting `num.io.threads`: no meaning for Riffle".into()
        )]
    );
}

#[test]
fn ignored_key_set_in_several_sources_warns_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "server.properties",
        "num.network.threads=3\nnum.network.threads=4\n",
    );
    let (_, warnings) = BrokerConfig::load(
        Some(&path),
        &pairs(&[("num.network.threads", "5")]),
        pairs(&[("RIFFLE_NUM_NETWORK_THREADS", "6")]),
    )
    .expect("loads");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].to_string().contains("`num.network.threads`"));
}

#[test]
fn ignored_prefix_families_warn_per_key() {
    let (_, warnings) = BrokerConfig::from_pairs(&pairs(&[
        ("zookeeper.session.timeout.ms", "18000"),
        ("confluent.support.metrics.enable", "false"),
        ("listener.name.internal.ssl.keystore.location", "/x"),
        ("group.coordinator.rebalance.protocols", "classic"),
        ("log.flush.interval.messages", "10000"),
        ("jmx.port", "9999"),
    ]))
    .expect("loads");
    assert_eq!(warnings.len(), 6, "{warnings:?}");
}

#[test]
fn unknown_key_error_names_key_and_origin_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "server.properties", "num.partitions=1\nfoo.bar=1\n");
    let err = load_file(&path).expect_err("unknown key");
    assert!(matches!(err.root(), ConfigError::UnknownKey { key } if key == "foo.bar"));
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: unknown setting `foo.bar` (not a Kafka or Riffle setting)",
            path.display()
        )
    );
}

#[test]
fn topic_key_at_broker_level_points_to_broker_name() {
    let err = err_of(&[("retention.ms", "1000")]);
    assert!(
        err.to_string().contains("`log.retention.ms`"),
        "message suggests the broker key: {err}"
    );
    assert_eq!(err.key(), Some("retention.ms"));
}

#[test]
fn invalid_values_name_the_key_and_the_accepted_range() {
    let cases: &[(&str, &str, &str)] = &[
        ("num.partitions", "0", "expected an integer >= 1"),
        ("num.partitions", "many", "expected an integer >= 1"),
        ("num.partitions", "2147483648", "expected an integer >= 1"),
        ("log.segment.bytes", "13", "expected an integer >= 14"),
        ("log.retention.ms", "-2", "expected an integer >= -1"),
        ("log.retention.bytes", "-5", "expected an integer >= -1"),
        (
            "log.cleaner.min.cleanable.ratio",
            "1.5",
            "expected a number in [0, 1]",
        ),
        (
            "log.cleaner.min.cleanable.ratio",
            "NaN",
            "expected a number in [0, 1]",
        ),
        (
            "default.replication.factor",
            "0",
            "expected an integer in [1, 32767]",
        ),
        (
            "offsets.topic.replication.factor",
            "0",
            "expected an integer >= 1",
        ),
        ("min.insync.replicas", "0", "expected an integer >= 1"),
        ("log.roll.hours", "0", "expected an integer >= 1"),
        ("message.max.bytes", "-1", "expected an integer >= 0"),
        ("fetch.max.bytes", "1000", "expected an integer >= 1024"),
        ("delete.topic.enable", "yes", "expected true or false"),
        (
            "compression.type",
            "brotli",
            "expected one of producer, uncompressed",
        ),
        (
            "log.message.timestamp.type",
            "Now",
            "expected one of CreateTime, LogAppendTime",
        ),
        (
            "log.cleanup.policy",
            "forever",
            "expected `delete`, `compact`",
        ),
        (
            "log.durability",
            "maybe",
            "expected one of fsync, pagecache",
        ),
        ("listeners", "PLAINTEXT://h:70000", "port in [0, 65535]"),
        ("listeners", "localhost:9092", "NAME://host:port"),
        ("controller.quorum.voters", "1@h", "id@host:port"),
        ("metrics.listeners", "https://h:1", "http://host:port"),
        ("log.dirs", " , ", "non-empty"),
        ("node.id", "-1", "expected an integer >= 0"),
    ];
    for (key, value, expected) in cases {
        let err = err_of(&[(key, value)]);
        let msg = err.to_string();
        assert_eq!(err.key(), Some(*key), "{key}={value}: {msg}");
        assert!(
            msg.contains(&format!("for `{key}`")),
            "{key}={value}: {msg}"
        );
        assert!(msg.contains(expected), "{key}={value}: {msg}");
    }
}

#[test]
fn invalid_override_names_its_origin() {
    let err =
        BrokerConfig::load(None, &pairs(&[("num.partitions", "0")]), no_env()).expect_err("bad");
    assert_eq!(
        err.to_string(),
        "--override num.partitions=0: invalid value `0` for `num.partitions`: \
         expected an integer >= 1"
    );
}

#[test]
fn session_timeout_min_above_max_is_rejected() {
    let err = err_of(&[
        ("group.min.session.timeout.ms", "10000"),
        ("group.max.session.timeout.ms", "5000"),
    ]);
    assert_eq!(err.key(), Some("group.max.session.timeout.ms"));
}

#[test]
fn tls_listeners_and_tls_protocol_map_are_rejected() {
    let err = err_of(&[("listeners", "SSL://:9093")]);
    assert!(err.to_string().contains("TLS"), "{err}");
    let err = err_of(&[
        ("listeners", "EXTERNAL://:9093"),
        ("listener.security.protocol.map", "EXTERNAL:SASL_SSL"),
    ]);
    assert_eq!(err.key(), Some("listener.security.protocol.map"));
}

#[test]
fn advertised_listeners_default_to_loopback_for_wildcards_and_reject_wildcards() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[(
        "listeners",
        "PLAINTEXT://0.0.0.0:9092,INTERNAL://:9093,PUB://10.0.0.5:9094",
    )]))
    .expect("loads");
    assert_eq!(
        c.advertised_listeners,
        vec![
            listener("PLAINTEXT", "127.0.0.1", 9092),
            listener("INTERNAL", "127.0.0.1", 9093),
            listener("PUB", "10.0.0.5", 9094),
        ]
    );
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[("advertised.listeners", "")])).expect("ok");
    assert_eq!(
        c.advertised_listeners,
        vec![listener("PLAINTEXT", "127.0.0.1", 9092)],
        "empty means unset"
    );
    let err = err_of(&[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")]);
    assert_eq!(err.key(), Some("advertised.listeners"));
    let err = err_of(&[("advertised.listeners", "OTHER://h:9092")]);
    assert!(err.to_string().contains("`OTHER`"), "{err}");
}

#[test]
fn voters_warn_when_this_node_is_not_among_them() {
    let (c, warnings) = BrokerConfig::from_pairs(&pairs(&[
        ("node.id", "4"),
        ("controller.quorum.voters", "1@a:9192,2@b:9192,3@c:9192"),
    ]))
    .expect("loads");
    assert_eq!(c.controller_quorum_voters.len(), 3);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].0.contains("node.id 4"));
}

#[test]
fn broker_topic_defaults_come_from_kafka_broker_names() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[
        ("log.retention.bytes", "1000"),
        ("log.segment.bytes", "2000"),
        ("log.cleanup.policy", "compact"),
        ("log.index.interval.bytes", "100"),
        ("log.index.size.max.bytes", "4096"),
        ("log.cleaner.delete.retention.ms", "5"),
        ("log.cleaner.min.compaction.lag.ms", "6"),
        ("message.max.bytes", "2048"),
        ("min.insync.replicas", "2"),
        ("log.message.timestamp.type", "logappendtime"),
        ("compression.type", "ZSTD"),
        ("log.preallocate", "TRUE"),
        ("log.durability", "pagecache"),
    ]))
    .expect("loads");
    let t = &c.topic_defaults;
    assert_eq!(t.retention_bytes, 1000);
    assert_eq!(t.segment_bytes, 2000);
    assert_eq!(t.cleanup_policy, CleanupPolicy::Compact);
    assert_eq!(t.index_interval_bytes, 100);
    assert_eq!(t.segment_index_bytes, 4096);
    assert_eq!(t.delete_retention_ms, 5);
    assert_eq!(t.min_compaction_lag_ms, 6);
    assert_eq!(t.max_message_bytes, 2048);
    assert_eq!(c.message_max_bytes, 2048);
    assert_eq!(t.min_insync_replicas, 2);
    assert_eq!(c.min_insync_replicas, 2);
    assert_eq!(t.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(t.compression_type, "zstd");
    assert!(t.preallocate);
    assert_eq!(c.durability, Durability::PageCache);
}

#[test]
fn parse_override_splits_at_first_equals() {
    assert_eq!(
        parse_override("log.dirs=/a=b").expect("ok"),
        ("log.dirs".to_string(), "/a=b".to_string())
    );
    assert_eq!(
        parse_override("x=").expect("ok"),
        ("x".to_string(), String::new())
    );
    assert!(matches!(
        parse_override("novalue"),
        Err(ConfigError::BadOverride { .. })
    ));
    assert!(matches!(
        parse_override("=1"),
        Err(ConfigError::BadOverride { .. })
    ));
}

#[test]
fn describe_reports_values_sources_and_read_only() {
    let (c, _) = BrokerConfig::from_pairs(&pairs(&[("num.partitions", "3"), ("broker.id", "2")]))
        .expect("loads");
    let entries: BTreeMap<String, _> = c
        .describe()
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let np = &entries["num.partitions"];
    assert_eq!(np.value.as_deref(), Some("3"));
    assert_eq!(np.source, ConfigSource::StaticBroker);
    assert!(np.read_only);
    assert_eq!(np.config_type, ConfigType::Int);
    let node = &entries["node.id"];
    assert_eq!(
        node.value.as_deref(),
        Some("2"),
        "alias shows the effective id"
    );
    assert_eq!(node.source, ConfigSource::StaticBroker);
    let ret = &entries["log.retention.ms"];
    assert_eq!(ret.value, None, "Kafka's null default");
    assert_eq!(ret.source, ConfigSource::Default);
    assert!(!ret.read_only);
    assert_eq!(ret.config_type, ConfigType::Long);
    assert_eq!(entries["log.retention.hours"].value.as_deref(), Some("168"));
    assert_eq!(entries["listeners"].config_type, ConfigType::List);
    assert_eq!(
        entries["advertised.listeners"].value.as_deref(),
        Some("PLAINTEXT://127.0.0.1:9092")
    );
    assert!(entries
        .values()
        .all(|e| !e.sensitive && e.documentation.is_some()));
    assert!(!entries.contains_key("num.network.threads"));
}

#[test]
fn set_dynamic_changes_topic_default_and_reports_dynamic_source() {
    let (mut c, _) =
        BrokerConfig::from_pairs(&pairs(&[("log.retention.hours", "10")])).expect("loads");
    c.log_dirs = vec![PathBuf::from("/set/by/test")];
    c.set_dynamic("log.retention.ms", Some("5000"))
        .expect("dynamic");
    assert_eq!(c.topic_defaults.retention_ms, 5000);
    assert_eq!(
        c.log_dirs,
        vec![PathBuf::from("/set/by/test")],
        "fields the key does not feed are left alone"
    );
    assert_eq!(
        c.explicit.get("log.retention.ms"),
        Some(&("5000".to_string(), ConfigSource::DynamicBroker))
    );
    let entry = c
        .describe()
        .into_iter()
        .find(|e| e.name == "log.retention.ms")
        .expect("described");
    assert_eq!(entry.source, ConfigSource::DynamicBroker);

    c.set_dynamic("log.retention.ms", None).expect("remove");
    assert_eq!(
        c.topic_defaults.retention_ms,
        10 * 3_600_000,
        "back to static"
    );
    assert_eq!(
        c.explicit.get("log.retention.hours"),
        Some(&("10".to_string(), ConfigSource::StaticBroker))
    );
}

#[test]
fn set_dynamic_message_max_bytes_updates_broker_and_topic_default() {
    let mut c = BrokerConfig::default();
    c.set_dynamic("message.max.bytes", Some("4096"))
        .expect("dynamic");
    assert_eq!(c.message_max_bytes, 4096);
    assert_eq!(c.topic_defaults.max_message_bytes, 4096);
}

#[test]
fn set_dynamic_refuses_read_only_unknown_ignored_and_bad_values() {
    let mut c = BrokerConfig::default();
    let before = c.clone();
    assert!(matches!(
        c.set_dynamic("num.partitions", Some("3")),
        Err(ConfigError::ReadOnly { .. })
    ));
    assert!(matches!(
        c.set_dynamic("no.such.key", Some("3")),
        Err(ConfigError::UnknownKey { .. })
    ));
    assert!(matches!(
        c.set_dynamic("num.io.threads", Some("3")),
        Err(ConfigError::Unsupported { .. })
    ));
    let err = c
        .set_dynamic("log.segment.bytes", Some("1"))
        .expect_err("below 14");
    assert!(err.to_string().contains(">= 14"), "{err}");
    assert_eq!(c, before, "a refused update changes nothing");
}

#[test]
fn dynamic_keys_are_the_topic_defaults() {
    let keys: Vec<&str> = BrokerConfig::dynamic_keys().collect();
    assert!(keys.contains(&"log.retention.ms"));
    assert!(keys.contains(&"message.max.bytes"));
    assert!(!keys.contains(&"listeners"));
}
