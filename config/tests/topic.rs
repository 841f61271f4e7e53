//! Topic settings: resolving overrides on broker defaults, validation, describe.

use std::collections::BTreeMap;

use riffle_config::{
    BrokerConfig, CleanupPolicy, ConfigError, ConfigSource, ConfigType, TimestampType, TopicConfig,
};

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn broker(kv: &[(&str, &str)]) -> BrokerConfig {
    let pairs: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BrokerConfig::from_pairs(&pairs).expect("broker config").0
}

#[test]
fn resolve_applies_overrides_on_broker_defaults() {
    let b = broker(&[
        ("log.retention.bytes", "1000"),
        ("min.insync.replicas", "2"),
    ]);
    let t = TopicConfig::resolve(
        &b.topic_defaults,
        &map(&[
            ("retention.ms", "2592000000"),
            ("cleanup.policy", "delete,compact"),
            ("segment.bytes", "1048576"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.cleanable.dirty.ratio", "0.1"),
            ("compression.type", "lz4"),
        ]),
    )
    .expect("valid overrides");
    assert_eq!(t.retention_ms, 2_592_000_000);
    assert_eq!(t.retention_bytes, 1000, "broker default kept");
    assert_eq!(t.min_insync_replicas, 2, "broker default kept");
    assert_eq!(t.cleanup_policy, CleanupPolicy::CompactDelete);
    assert_eq!(t.segment_bytes, 1_048_576);
    assert_eq!(t.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(t.min_cleanable_dirty_ratio, 0.1);
    assert_eq!(t.compression_type, "lz4");
}

#[test]
fn resolve_without_overrides_is_the_defaults() {
    let d = TopicConfig::default();
    assert_eq!(TopicConfig::resolve(&d, &BTreeMap::new()).expect("ok"), d);
}

#[test]
fn resolve_rejects_bad_value_naming_key_and_range() {
    let err = TopicConfig::resolve(&TopicConfig::default(), &map(&[("retention.ms", "-2")]))
        .expect_err("below -1");
    assert_eq!(
        err.to_string(),
        "invalid value `-2` for `retention.ms`: expected an integer >= -1"
    );
    let err = TopicConfig::resolve(&TopicConfig::default(), &map(&[("segment.bytes", "10")]))
        .expect_err("below 14");
    assert_eq!(
        err.to_string(),
        "invalid value `10` for `segment.bytes`: expected an integer >= 14"
    );
}

#[test]
fn resolve_rejects_unknown_and_broker_level_keys() {
    let err = TopicConfig::resolve(&TopicConfig::default(), &map(&[("retention.days", "1")]))
        .expect_err("unknown");
    assert!(matches!(err, ConfigError::UnknownKey { ref key } if key == "retention.days"));
    let err = TopicConfig::resolve(&TopicConfig::default(), &map(&[("log.retention.ms", "1")]))
        .expect_err("broker key at topic level");
    assert_eq!(err.key(), Some("log.retention.ms"));
}

#[test]
fn resolve_rejects_min_compaction_lag_above_max() {
    let err = TopicConfig::resolve(
        &TopicConfig::default(),
        &map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]),
    )
    .expect_err("min > max");
    assert_eq!(err.key(), Some("min.compaction.lag.ms"));
}

#[test]
fn deprecated_timestamp_difference_counts_as_before_max_unless_before_is_set() {
    let d = TopicConfig::default();
    let t = TopicConfig::resolve(&d, &map(&[("message.timestamp.difference.max.ms", "100")]))
        .expect("ok");
    assert_eq!(t.message_timestamp_before_max_ms, 100);
    let t = TopicConfig::resolve(
        &d,
        &map(&[
            ("message.timestamp.difference.max.ms", "100"),
            ("message.timestamp.before.max.ms", "200"),
        ]),
    )
    .expect("ok");
    assert_eq!(t.message_timestamp_before_max_ms, 200);
    let err = TopicConfig::resolve(&d, &map(&[("message.timestamp.difference.max.ms", "-1")]))
        .expect_err("negative");
    assert_eq!(err.key(), Some("message.timestamp.difference.max.ms"));
}

#[test]
fn inert_kafka_topic_keys_are_accepted_but_tiered_storage_cannot_be_enabled() {
    let d = TopicConfig::default();
    let t = TopicConfig::resolve(
        &d,
        &map(&[
            ("remote.storage.enable", "false"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("message.downconversion.enable", "true"),
        ]),
    )
    .expect("accepted");
    assert_eq!(t, d, "inert keys change nothing");
    let err = TopicConfig::validate_override("remote.storage.enable", "true").expect_err("no");
    assert!(err.to_string().contains("tiered storage"), "{err}");
}

#[test]
fn validate_override_checks_each_kafka_range() {
    let ok: &[(&str, &str)] = &[
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "14"),
        ("segment.ms", "1"),
        ("min.insync.replicas", "1"),
        ("min.cleanable.dirty.ratio", "0"),
        ("min.cleanable.dirty.ratio", "1"),
        ("cleanup.policy", "compact,delete"),
        ("compression.type", "producer"),
        ("max.message.bytes", "0"),
        ("segment.index.bytes", "4"),
        ("unclean.leader.election.enable", "false"),
    ];
    for (k, v) in ok {
        TopicConfig::validate_override(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let bad: &[(&str, &str, &str)] = &[
        ("retention.ms", "x", "an integer >= -1"),
        ("segment.ms", "0", "an integer >= 1"),
        ("min.insync.replicas", "0", "an integer >= 1"),
        ("min.cleanable.dirty.ratio", "-0.1", "a number in [0, 1]"),
        ("cleanup.policy", "", "`delete`, `compact`"),
        ("compression.type", "brotli", "one of producer"),
        ("max.message.bytes", "2147483648", "an integer >= 0"),
        ("segment.index.bytes", "3", "an integer >= 4"),
        ("preallocate", "1", "true or false"),
        ("message.timestamp.type", "x", "CreateTime, LogAppendTime"),
    ];
    for (k, v, expected) in bad {
        let err = TopicConfig::validate_override(k, v).expect_err(k);
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{k}`")), "{msg}");
        assert!(msg.contains(expected), "{k}={v}: {msg}");
    }
}

#[test]
fn describe_reports_topic_broker_and_default_sources() {
    let mut b = broker(&[("log.segment.bytes", "2000")]);
    b.set_dynamic("log.cleanup.policy", Some("compact"))
        .expect("dynamic");
    let overrides = map(&[("retention.ms", "1000")]);
    let t = TopicConfig::resolve(&b.topic_defaults, &overrides).expect("ok");
    let entries: BTreeMap<String, _> = t
        .describe(&overrides, &b)
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();

    let retention = &entries["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert_eq!(retention.config_type, ConfigType::Long);
    assert!(!retention.read_only);

    let segment = &entries["segment.bytes"];
    assert_eq!(segment.value.as_deref(), Some("2000"));
    assert_eq!(segment.source, ConfigSource::StaticBroker);

    let policy = &entries["cleanup.policy"];
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert_eq!(policy.source, ConfigSource::DynamicBroker);
    assert_eq!(policy.config_type, ConfigType::List);

    let max = &entries["max.message.bytes"];
    assert_eq!(max.value.as_deref(), Some("1048588"));
    assert_eq!(max.source, ConfigSource::Default);

    assert_eq!(
        entries["remote.storage.enable"].value.as_deref(),
        Some("false")
    );
    assert_eq!(
        entries["min.cleanable.dirty.ratio"].value.as_deref(),
        Some("0.5")
    );
    assert!(entries.values().all(|e| e.value.is_some()));
}

#[test]
fn value_of_round_trips_through_apply() {
    let b = broker(&[("log.cleaner.min.cleanable.ratio", "0.3")]);
    let src = &b.topic_defaults;
    let mut dst = TopicConfig::default();
    for e in src.describe(&BTreeMap::new(), &b) {
        let v = src.value_of(&e.name).expect("known key");
        dst.apply(&e.name, &v).expect("own values apply");
    }
    assert_eq!(&dst, src);
}
