//! Errors and warnings from loading, validating and altering settings.

use std::path::PathBuf;

/// Why a setting, a file or an alteration was refused.
///
/// Messages name the key and what it accepts, so they can go to a user unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key that neither Kafka nor Riffle knows.
    #[error("unknown setting `{key}` (not a Kafka or Riffle setting)")]
    UnknownKey { key: String },
    /// A topic-level key (`retention.ms`) given where a broker key (`log.retention.ms`) belongs.
    #[error(
        "unknown setting `{key}`: it is a topic setting; the broker-wide default is `{broker_key}`"
    )]
    TopicKeyInBrokerConfig { key: String, broker_key: String },
    /// A known key with a value outside what it accepts.
    #[error("invalid value `{value}` for `{key}`: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },
    /// A broker key that cannot change while the broker runs (AlterConfigs on the broker).
    #[error("setting `{key}` is read-only: it cannot be changed while the broker runs")]
    ReadOnly { key: String },
    /// A Kafka broker key that Riffle ignores, named in an AlterConfigs request.
    #[error("Kafka setting `{key}` has no meaning for Riffle and cannot be altered")]
    Unsupported { key: String },
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid Java properties or TOML.
    #[error("{}: {message}", location(path, *line))]
    Parse {
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        message: String,
    },
    /// A `--override` argument without `=` or without a key.
    #[error("invalid override `{arg}`: expected key=value")]
    BadOverride { arg: String },
    /// Another error, with where the offending setting came from
    /// (`server.properties:12`, `environment variable RIFFLE_NUM_PARTITIONS`, `--override k=v`).
    #[error("{origin}: {error}")]
    At {
        origin: String,
        error: Box<ConfigError>,
    },
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

impl ConfigError {
    /// The error without its `At` origin wrappers: branch on this.
    pub fn root(&self) -> &ConfigError {
        match self {
            ConfigError::At { error, .. } => error.root(),
            other => other,
        }
    }

    /// The setting the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self.root() {
            ConfigError::UnknownKey { key }
            | ConfigError::TopicKeyInBrokerConfig { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::ReadOnly { key }
            | ConfigError::Unsupported { key } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn at(self, origin: Option<&str>) -> ConfigError {
        match origin {
            Some(origin) => ConfigError::At {
                origin: origin.to_string(),
                error: Box::new(self),
            },
            None => self,
        }
    }

    pub(crate) fn invalid(key: &str, value: &str, expected: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Something accepted but worth telling the operator, such as a Kafka setting Riffle ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
