//! DescribeConfigs entries: one setting's name, value, source and type.

use serde::{Deserialize, Serialize};

use crate::value::ConfigType;

/// Where a setting's value came from, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfigSource {
    /// Nobody set it.
    Default,
    /// The config file, a `RIFFLE_*` environment variable or `--override`
    /// (Kafka: STATIC_BROKER_CONFIG).
    StaticBroker,
    /// AlterConfigs on the broker while running (Kafka: DYNAMIC_DEFAULT_BROKER_CONFIG for
    /// cluster-wide defaults, DYNAMIC_BROKER_CONFIG for one broker; the broker picks).
    DynamicBroker,
    /// A topic's own override (Kafka: DYNAMIC_TOPIC_CONFIG).
    DynamicTopic,
}

/// One entry of a DescribeConfigs response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` where Kafka's default is null (e.g. `log.retention.ms` when unset).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    pub documentation: Option<String>,
}
