//! Arbitrary file text, settings and overrides give a result or an error, never a panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use riffle_config::{parse_override, parse_properties, parse_toml, BrokerConfig, TopicConfig};

/// Characters that matter to the parsers, mixed with arbitrary ones.
fn config_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("=".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("#".to_string()),
            Just("\\u".to_string()),
            Just("[".to_string()),
            Just("\"".to_string()),
            Just("log.dirs".to_string()),
            Just("listeners".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..64,
    )
    .prop_map(|parts| parts.concat())
}

fn known_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("listeners"),
        Just("advertised.listeners"),
        Just("controller.quorum.voters"),
        Just("metrics.listeners"),
        Just("log.retention.hours"),
        Just("log.cleaner.min.cleanable.ratio"),
        Just("log.cleanup.policy"),
        Just("num.partitions"),
        Just("node.id"),
        Just("log.dirs"),
    ]
    .prop_map(str::to_string)
}

proptest! {
    #[test]
    fn properties_parser_never_panics(text in config_text()) {
        let _ = parse_properties(&text);
    }

    #[test]
    fn toml_parser_never_panics(text in config_text()) {
        let _ = parse_toml(&text);
    }

    #[test]
    fn broker_values_never_panic(key in known_key(), value in config_text()) {
        let _ = BrokerConfig::from_pairs(&[(key, value)]);
    }

    #[test]
    fn override_parse_never_panics(arg in config_text()) {
        let _ = parse_override(&arg);
    }

    #[test]
    fn topic_values_never_panic(
        key in prop_oneof![Just("retention.ms"), Just("cleanup.policy"), Just("min.cleanable.dirty.ratio"), Just("segment.bytes")],
        value in config_text(),
    ) {
        let overrides: BTreeMap<String, String> = [(key.to_string(), value)].into_iter().collect();
        let _ = TopicConfig::resolve(&TopicConfig::default(), &overrides);
    }
}
