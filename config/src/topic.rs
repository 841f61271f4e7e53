//! Topic settings: the resolved config of one topic (broker defaults + the topic's overrides),
//! validation of topic-level keys, and their DescribeConfigs entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::broker::BrokerConfig;
use crate::entry::{ConfigEntry, ConfigSource};
use crate::error::ConfigError;
use crate::keys::{topic_key, TopicKey, TOPIC_KEYS};
use crate::value::{parse_cleanup_policy, CleanupPolicy};

/// Which timestamp a record batch carries in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimestampType {
    /// The producer's timestamp, checked against `message.timestamp.{before,after}.max.ms`.
    CreateTime,
    /// The broker's clock at append.
    LogAppendTime,
}

impl TimestampType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// The effective settings of one topic, with Kafka's topic-level names in snake case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// `cleanup.policy`
    pub cleanup_policy: CleanupPolicy,
    /// `retention.ms`; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes` per partition; -1 no limit.
    pub retention_bytes: i64,
    /// `segment.bytes`
    pub segment_bytes: i32,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `max.message.bytes` (largest batch, after compression)
    pub max_message_bytes: i32,
    /// `min.insync.replicas`
    pub min_insync_replicas: i32,
    /// `index.interval.bytes`
    pub index_interval_bytes: i32,
    /// `segment.index.bytes`
    pub segment_index_bytes: i32,
    /// `delete.retention.ms`
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`, in [0, 1]
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`
    pub max_compaction_lag_ms: i64,
    /// `message.timestamp.type`
    pub message_timestamp_type: TimestampType,
    /// `compression.type`: producer | uncompressed | gzip | snappy | lz4 | zstd
    pub compression_type: String,
    /// `file.delete.delay.ms`
    pub file_delete_delay_ms: i64,
    /// `flush.messages`
    pub flush_messages: i64,
    /// `flush.ms`
    pub flush_ms: i64,
    /// `unclean.leader.election.enable`
    pub unclean_leader_election_enable: bool,
    /// `preallocate`
    pub preallocate: bool,
    /// `message.timestamp.before.max.ms`
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`
    pub message_timestamp_after_max_ms: i64,
}

impl Default for TopicConfig {
    /// Kafka's topic defaults (and those of a broker with no settings).
    fn default() -> Self {
        TopicConfig {
            cleanup_policy: CleanupPolicy::Delete,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            max_message_bytes: 1_048_588,
            min_insync_replicas: 1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            compression_type: "producer".to_string(),
            file_delete_delay_ms: 60_000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            unclean_leader_election_enable: false,
            preallocate: false,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
        }
    }
}

fn known(key: &str) -> Result<&'static TopicKey, ConfigError> {
    topic_key(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_string(),
    })
}

impl TopicConfig {
    /// The config of a topic whose overrides are `overrides` (topic-level names:
    /// `retention.ms`, `segment.bytes`, ...) on top of the broker's `topic_defaults`.
    ///
    /// `message.timestamp.difference.max.ms` (deprecated) counts as
    /// `message.timestamp.before.max.ms` when that is not overridden. Keys Riffle accepts but
    /// does not act on (`remote.storage.enable=false`, throttled replicas) are validated only.
    pub fn resolve(
        defaults: &TopicConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut tc = defaults.clone();
        for (key, value) in overrides {
            if key == "message.timestamp.difference.max.ms" {
                if !overrides.contains_key("message.timestamp.before.max.ms") {
                    tc.apply("message.timestamp.before.max.ms", value)
                        .map_err(|_| rename(key, value))?;
                } else {
                    Self::validate_override(key, value)?;
                }
                continue;
            }
            tc.apply(key, value)?;
        }
        if tc.min_compaction_lag_ms > tc.max_compaction_lag_ms {
            return Err(ConfigError::invalid(
                "min.compaction.lag.ms",
                &tc.min_compaction_lag_ms.to_string(),
                format!(
                    "an integer <= max.compaction.lag.ms ({})",
                    tc.max_compaction_lag_ms
                ),
            ));
        }
        Ok(tc)
    }

    /// Check one topic-level key and value, as CreateTopics and AlterConfigs do before
    /// storing them. Unknown keys and bad values are errors naming the key and range.
    pub fn validate_override(key: &str, value: &str) -> Result<(), ConfigError> {
        let spec = known(key)?;
        spec.kind.normalize(key, value).map(|_| ())
    }

    /// Set one topic-level key from text. Keys Riffle accepts but does not act on are only
    /// validated.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let spec = known(key)?;
        let k = &spec.kind;
        match key {
            "cleanup.policy" => {
                self.cleanup_policy = parse_cleanup_policy(value)
                    .ok_or_else(|| ConfigError::invalid(key, value, k.expected()))?;
            }
            "compression.type" => self.compression_type = k.normalize(key, value)?,
            "delete.retention.ms" => self.delete_retention_ms = k.integer(key, value)?,
            "file.delete.delay.ms" => self.file_delete_delay_ms = k.integer(key, value)?,
            "flush.messages" => self.flush_messages = k.integer(key, value)?,
            "flush.ms" => self.flush_ms = k.integer(key, value)?,
            "index.interval.bytes" => self.index_interval_bytes = int32(k.integer(key, value)?),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = k.integer(key, value)?,
            "max.message.bytes" => self.max_message_bytes = int32(k.integer(key, value)?),
            "message.timestamp.after.max.ms" => {
                self.message_timestamp_after_max_ms = k.integer(key, value)?
            }
            "message.timestamp.before.max.ms" => {
                self.message_timestamp_before_max_ms = k.integer(key, value)?
            }
            "message.timestamp.type" => {
                self.message_timestamp_type = match k.normalize(key, value)?.as_str() {
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => TimestampType::CreateTime,
                }
            }
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio = k.double(key, value)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = k.integer(key, value)?,
            "min.insync.replicas" => self.min_insync_replicas = int32(k.integer(key, value)?),
            "preallocate" => self.preallocate = k.boolean(key, value)?,
            "retention.bytes" => self.retention_bytes = k.integer(key, value)?,
            "retention.ms" => self.retention_ms = k.integer(key, value)?,
            "segment.bytes" => self.segment_bytes = int32(k.integer(key, value)?),
            "segment.index.bytes" => self.segment_index_bytes = int32(k.integer(key, value)?),
            "segment.ms" => self.segment_ms = k.integer(key, value)?,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = k.boolean(key, value)?
            }
            _ => {
                k.normalize(key, value)?;
            }
        }
        Ok(())
    }

    /// The value of a topic-level key as DescribeConfigs shows it; `None` for unknown keys.
    /// Keys not held in `TopicConfig` show Kafka's default.
    pub fn value_of(&self, key: &str) -> Option<String> {
        let v = match key {
            "cleanup.policy" => self.cleanup_policy.as_str().to_string(),
            "compression.type" => self.compression_type.clone(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms.to_string(),
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.as_str().to_string(),
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "preallocate" => self.preallocate.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            other => topic_key(other)?.default.to_string(),
        };
        Some(v)
    }

    /// Every topic key with its value, for DescribeConfigs on a topic: source `DynamicTopic`
    /// if the topic overrides it, the broker key's source if the broker default was set
    /// (`StaticBroker`, or `DynamicBroker` after AlterConfigs on the broker), else `Default`.
    /// `self` is the topic's resolved config.
    pub fn describe(
        &self,
        overrides: &BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> Vec<ConfigEntry> {
        TOPIC_KEYS
            .iter()
            .map(|spec| {
                let source = if overrides.contains_key(spec.name) {
                    ConfigSource::DynamicTopic
                } else {
                    spec.broker
                        .iter()
                        .find_map(|b| broker.explicit.get(*b).map(|(_, source)| *source))
                        .unwrap_or(ConfigSource::Default)
                };
                let value = match overrides.get(spec.name) {
                    Some(v) if !spec.used => spec
                        .kind
                        .normalize(spec.name, v)
                        .unwrap_or_else(|_| v.clone()),
                    _ => self.value_of(spec.name).unwrap_or_default(),
                };
                ConfigEntry {
                    name: spec.name.to_string(),
                    value: Some(value),
                    source,
                    read_only: false,
                    sensitive: false,
                    config_type: spec.kind.config_type(),
                    documentation: Some(spec.doc.to_string()),
                }
            })
            .collect()
    }
}

/// Ranges come from the key table, so narrowing to i32 cannot lose bits; saturate anyway.
fn int32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

fn rename(key: &str, value: &str) -> ConfigError {
    match known(key) {
        Ok(spec) => ConfigError::invalid(key, value, spec.kind.expected()),
        Err(e) => e,
    }
}
