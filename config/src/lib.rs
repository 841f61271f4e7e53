//! Broker and topic settings with Kafka's names and defaults.
//!
//! `riffle serve [--config FILE] [--override key=value]...` reads settings like Kafka's
//! `kafka-server-start.sh server.properties --override k=v`: [`BrokerConfig::load`] layers
//! defaults < file (Java properties, or TOML if the name ends in `.toml`) < `RIFFLE_*`
//! environment variables < overrides. Topic settings are [`TopicConfig`]: the broker's
//! `topic_defaults` with a topic's overrides on top ([`TopicConfig::resolve`]).
//!
//! This crate reads the config file and does no other I/O.

mod broker;
mod entry;
mod error;
mod file;
mod keys;
mod topic;
mod value;

pub use broker::{parse_override, BrokerConfig, Durability};
pub use entry::{ConfigEntry, ConfigSource};
pub use error::{ConfigError, Warning};
pub use file::{parse_properties, parse_toml, FileEntry, SyntaxError};
pub use keys::{
    is_setting_env_var, ENV_PREFIX, LOG_RETENTION_CHECK_INTERVAL_MS_DEFAULT, RESERVED_ENV_PREFIXES,
    RESERVED_ENV_VARS,
};
pub use topic::{TimestampType, TopicConfig};
pub use value::{CleanupPolicy, ConfigType, Listener, Voter};
