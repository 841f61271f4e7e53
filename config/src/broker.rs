//! Broker settings: loading defaults < file < environment < `--override`, building the typed
//! `BrokerConfig`, DescribeConfigs entries and dynamic updates (AlterConfigs on the broker).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::entry::{ConfigEntry, ConfigSource};
use crate::error::{ConfigError, Warning};
use crate::file::{parse_properties, parse_toml};
use crate::keys::{
    broker_key, is_ignored_kafka_key, is_setting_env_var, key_group, topic_key, BrokerKey,
    BROKER_KEYS, ENV_PREFIX, TOPIC_KEYS,
};
use crate::topic::TopicConfig;
use crate::value::{parse_http_urls, parse_listeners, parse_voters, split_list, Listener, Voter};

/// When a replica acknowledges a Raft append (`log.durability`, Riffle-specific).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Durability {
    /// After `fdatasync` (group commit): acks=all means "on the disks of a majority". Default.
    Fsync,
    /// After the write reaches the page cache, as Kafka does by default.
    PageCache,
}

impl Durability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::PageCache => "pagecache",
        }
    }
}

/// The typed settings of one broker, with Kafka's names in snake case.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id` (alias `broker.id`), default 1.
    pub node_id: i32,
    /// `log.dirs` (alias `log.dir`), default `./data`.
    pub log_dirs: Vec<PathBuf>,
    /// `listeners`, default `PLAINTEXT://127.0.0.1:9092`. Listeners named in Kafka's
    /// `controller.listener.names` are dropped: Riffle's controller speaks its own transport.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, default: `listeners` with wildcard hosts replaced by 127.0.0.1.
    pub advertised_listeners: Vec<Listener>,
    /// `auto.create.topics.enable`, default false (Kafka: true), as in the platform's cluster.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`, default true.
    pub delete_topic_enable: bool,
    /// `num.partitions`, default 1.
    pub num_partitions: i32,
    /// `default.replication.factor`, default 1.
    pub default_replication_factor: i16,
    /// `min.insync.replicas`, default 1 (also `topic_defaults.min_insync_replicas`).
    pub min_insync_replicas: i32,
    /// `message.max.bytes`, default 1048588 (also `topic_defaults.max_message_bytes`).
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes`, default 104857600.
    pub socket_request_max_bytes: i32,
    /// `fetch.max.bytes`, default 57671680.
    pub fetch_max_bytes: i32,
    /// `log.retention.check.interval.ms`: Riffle default 5000, Kafka's is 300000. Retention
    /// here compares in-memory segment metadata only, so a short interval is cheap.
    pub log_retention_check_interval_ms: i64,
    /// `log.cleaner.enable`, default true.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`: pause between cleaner passes.
    pub log_cleaner_backoff_ms: i64,
    /// `group.initial.rebalance.delay.ms`, default 3000.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`, default 6000.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`, default 1800000.
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size`, default i32::MAX.
    pub group_max_size: i32,
    /// `group.consumer.session.timeout.ms` (KIP-848 groups).
    pub group_consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 groups).
    pub group_consumer_heartbeat_interval_ms: i32,
    /// `offsets.topic.num.partitions`, default 50.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor`, default 3 as in Kafka; the broker clamps it to
    /// the cluster size.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.retention.minutes`, default 10080 (7 days).
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms`, default 600000.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`, default 4096.
    pub offset_metadata_max_bytes: i32,
    /// `transactional.id.expiration.ms`, default 604800000 (7 days).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.max.timeout.ms`, default 900000.
    pub transaction_max_timeout_ms: i32,
    /// `producer.id.expiration.ms`, default 86400000.
    pub producer_id_expiration_ms: i64,
    /// `replica.lag.time.max.ms`, default 30000.
    pub replica_lag_time_max_ms: i64,
    /// `metrics.listeners` (Riffle), default `http://127.0.0.1:9644`; empty disables.
    pub metrics_listeners: Vec<String>,
    /// `schema.registry.listeners` (Riffle), default `http://127.0.0.1:8081`; empty disables.
    pub schema_registry_listeners: Vec<String>,
    /// `controller.quorum.voters` `id@host:port,...`: the Riffle node-to-node transport of
    /// every node. Default empty (a single node).
    pub controller_quorum_voters: Vec<Voter>,
    /// `log.durability` (Riffle): fsync (default) | pagecache.
    pub durability: Durability,
    /// Cluster-wide topic defaults from `log.retention.*`, `log.segment.bytes`, `log.roll.*`,
    /// `log.cleanup.policy`, `log.index.*`, `log.cleaner.*`, `message.max.bytes`,
    /// `min.insync.replicas`, `log.message.timestamp.*`, `compression.type`, ...
    pub topic_defaults: TopicConfig,
    /// Every key set explicitly, by the name it was set under: (value as normalised, source).
    pub explicit: BTreeMap<String, (String, ConfigSource)>,
    layers: Layers,
}

/// The raw settings the typed fields were built from, kept so a dynamic update can be
/// applied and removed again.
#[derive(Debug, Clone, PartialEq, Default)]
struct Layers {
    /// file < env < override, merged; values normalised.
    static_values: BTreeMap<String, String>,
    /// AlterConfigs on the broker.
    dynamic_values: BTreeMap<String, String>,
    /// Kafka keys Riffle ignores, with their values.
    ignored: BTreeMap<String, String>,
}

/// A setting as given, before validation, with where it came from.
struct Given {
    key: String,
    value: String,
    origin: Option<String>,
}

#[derive(Default)]
struct Loader {
    static_values: BTreeMap<String, String>,
    ignored: BTreeMap<String, String>,
    warnings: Vec<Warning>,
    warned: BTreeSet<String>,
}

impl Loader {
    /// Validate one source's settings and lay them over the earlier sources.
    fn add_layer(&mut self, items: Vec<Given>) -> Result<(), ConfigError> {
        let mut layer: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for Given { key, value, origin } in items {
            let key = key.trim().to_string();
            let origin = origin.as_deref();
            if let Some(spec) = broker_key(&key) {
                let normalized = spec
                    .kind
                    .normalize(&key, &value)
                    .map_err(|e| e.at(origin))?;
                layer.insert(key, (normalized, origin.map(str::to_string)));
            } else if is_ignored_kafka_key(&key) {
                if self.warned.insert(key.clone()) {
                    self.warnings.push(ignored_warning(&key, &value));
                }
                self.ignored.insert(key, value.trim().to_string());
            } else {
                return Err(unknown_broker_key(&key).at(origin));
            }
        }
        check_alias_conflicts(&layer)?;
        merge_layer(
            &mut self.static_values,
            layer.into_iter().map(|(k, (v, _))| (k, v)).collect(),
        );
        Ok(())
    }

    fn finish(self) -> Result<(BrokerConfig, Vec<Warning>), ConfigError> {
        let layers = Layers {
            static_values: self.static_values,
            dynamic_values: BTreeMap::new(),
            ignored: self.ignored,
        };
        let (config, mut warnings) = build(layers)?;
        let mut all = self.warnings;
        all.append(&mut warnings);
        Ok((config, all))
    }
}

fn ignored_warning(key: &str, value: &str) -> Warning {
    let mut text = format!("ignoring Kafka setting `{key}`: no meaning for Riffle");
    if key == "controller.listener.names" {
        let names = split_list(value).join(", ");
        if !names.is_empty() {
            text.push_str(&format!(
                " (listeners {names} are not served: Riffle's controller uses its own transport)"
            ));
        }
    }
    Warning(text)
}

/// The error for a key that is not a broker key Riffle uses or ignores.
fn unknown_broker_key(key: &str) -> ConfigError {
    match topic_key(key).and_then(|t| t.broker.first()) {
        Some(broker_key) => ConfigError::TopicKeyInBrokerConfig {
            key: key.to_string(),
            broker_key: broker_key.to_string(),
        },
        None => ConfigError::UnknownKey {
            key: key.to_string(),
        },
    }
}

/// `node.id` and `broker.id` given together must agree, as in Kafka.
fn check_alias_conflicts(
    layer: &BTreeMap<String, (String, Option<String>)>,
) -> Result<(), ConfigError> {
    if let (Some((node_id, _)), Some((broker_id, origin))) =
        (layer.get("node.id"), layer.get("broker.id"))
    {
        if node_id != broker_id {
            return Err(ConfigError::invalid(
                "broker.id",
                broker_id,
                format!("the same value as node.id ({node_id}) or no broker.id"),
            )
            .at(origin.as_deref()));
        }
    }
    Ok(())
}

/// Lay `layer` over `base`. A layer that sets any key of a group (`log.retention.ms` /
/// `.minutes` / `.hours`, `node.id` / `broker.id`, ...) replaces the whole group, so a later
/// source always wins even when it uses a lower-priority unit or an alias.
fn merge_layer(base: &mut BTreeMap<String, String>, layer: BTreeMap<String, String>) {
    for key in layer.keys() {
        if let Some(group) = key_group(key) {
            for member in group.keys {
                base.remove(*member);
            }
        }
    }
    base.extend(layer);
}

/// The merged raw settings, with defaults from the key table.
struct Values<'a> {
    merged: &'a BTreeMap<String, String>,
}

impl Values<'_> {
    fn spec(&self, key: &str) -> Result<&'static BrokerKey, ConfigError> {
        broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_string(),
        })
    }

    fn explicit(&self, key: &str) -> Option<&str> {
        self.merged.get(key).map(String::as_str)
    }

    fn raw(&self, key: &str) -> Result<&str, ConfigError> {
        let spec = self.spec(key)?;
        self.explicit(key)
            .or(spec.default)
            .ok_or_else(|| ConfigError::invalid(key, "", spec.kind.expected()))
    }

    fn integer(&self, key: &str) -> Result<i64, ConfigError> {
        self.spec(key)?.kind.integer(key, self.raw(key)?)
    }

    fn int(&self, key: &str) -> Result<i32, ConfigError> {
        let v = self.integer(key)?;
        i32::try_from(v).map_err(|_| ConfigError::invalid(key, &v.to_string(), "a 32-bit integer"))
    }

    fn short(&self, key: &str) -> Result<i16, ConfigError> {
        let v = self.integer(key)?;
        i16::try_from(v).map_err(|_| ConfigError::invalid(key, &v.to_string(), "a 16-bit integer"))
    }

    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        self.spec(key)?.kind.boolean(key, self.raw(key)?)
    }

    /// The first key of `keys` that was set explicitly, else the first with a default.
    fn first_of<'k>(&self, keys: &[&'k str]) -> Option<(&'k str, &str)> {
        keys.iter()
            .find_map(|k| self.explicit(k).map(|v| (*k, v)))
            .or_else(|| {
                keys.iter()
                    .find_map(|k| broker_key(k).and_then(|s| s.default).map(|v| (*k, v)))
            })
    }
}

/// Build the typed config from raw layers: static, then dynamic on top.
fn build(layers: Layers) -> Result<(BrokerConfig, Vec<Warning>), ConfigError> {
    let mut merged = layers.static_values.clone();
    merge_layer(&mut merged, layers.dynamic_values.clone());
    let v = Values { merged: &merged };
    let mut warnings = Vec::new();

    let node_id = match v.explicit("node.id").or(v.explicit("broker.id")) {
        Some(_) if v.explicit("node.id").is_none() => v.int("broker.id")?,
        _ => v.int("node.id")?,
    };

    let dirs_key = if v.explicit("log.dirs").is_none() && v.explicit("log.dir").is_some() {
        "log.dir"
    } else {
        "log.dirs"
    };
    let log_dirs: Vec<PathBuf> = split_list(v.raw(dirs_key)?)
        .into_iter()
        .map(PathBuf::from)
        .collect();

    let controller_names: Vec<String> = layers
        .ignored
        .get("controller.listener.names")
        .map(|names| {
            split_list(names)
                .into_iter()
                .map(|n| n.to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default();
    let mut listeners = parse_listeners("listeners", v.raw("listeners")?)?;
    listeners.retain(|l| !controller_names.contains(&l.name));
    if listeners.is_empty() {
        return Err(ConfigError::invalid(
            "listeners",
            v.raw("listeners")?,
            "at least one listener that is not a controller listener",
        ));
    }
    check_security_protocol_map(&layers.ignored, &listeners)?;

    // An empty value counts as unset, as a commented-out line would.
    let advertised_raw = v
        .explicit("advertised.listeners")
        .filter(|raw| !raw.is_empty());
    let advertised_listeners = match advertised_raw {
        Some(raw) => {
            let mut advertised = parse_listeners("advertised.listeners", raw)?;
            advertised.retain(|l| !controller_names.contains(&l.name));
            for l in &advertised {
                if !listeners.iter().any(|b| b.name == l.name) {
                    return Err(ConfigError::invalid(
                        "advertised.listeners",
                        raw,
                        format!(
                            "listener names that appear in listeners (`{}` does not)",
                            l.name
                        ),
                    ));
                }
                if l.is_wildcard() {
                    return Err(ConfigError::invalid(
                        "advertised.listeners",
                        raw,
                        "hosts clients can reach, not the wildcard 0.0.0.0 / ::",
                    ));
                }
            }
            advertised
        }
        None => listeners
            .iter()
            .map(|l| Listener {
                host: if l.is_wildcard() {
                    "127.0.0.1".to_string()
                } else {
                    l.host.clone()
                },
                ..l.clone()
            })
            .collect(),
    };

    let controller_quorum_voters = parse_voters(
        "controller.quorum.voters",
        v.raw("controller.quorum.voters")?,
    )?;
    if !controller_quorum_voters.is_empty()
        && !controller_quorum_voters
            .iter()
            .any(|(id, _, _)| *id == node_id)
    {
        warnings.push(Warning(format!(
            "node.id {node_id} is not among controller.quorum.voters; this node will not vote"
        )));
    }

    let group_min_session_timeout_ms = v.int("group.min.session.timeout.ms")?;
    let group_max_session_timeout_ms = v.int("group.max.session.timeout.ms")?;
    if group_min_session_timeout_ms > group_max_session_timeout_ms {
        return Err(ConfigError::invalid(
            "group.max.session.timeout.ms",
            &group_max_session_timeout_ms.to_string(),
            format!("an integer >= group.min.session.timeout.ms ({group_min_session_timeout_ms})"),
        ));
    }

    let topic_defaults = build_topic_defaults(&v)?;

    let mut explicit = BTreeMap::new();
    for (key, value) in &merged {
        let source = if layers.dynamic_values.contains_key(key) {
            ConfigSource::DynamicBroker
        } else {
            ConfigSource::StaticBroker
        };
        explicit.insert(key.clone(), (value.clone(), source));
    }

    let config = BrokerConfig {
        node_id,
        log_dirs,
        listeners,
        advertised_listeners,
        auto_create_topics_enable: v.boolean("auto.create.topics.enable")?,
        delete_topic_enable: v.boolean("delete.topic.enable")?,
        num_partitions: v.int("num.partitions")?,
        default_replication_factor: v.short("default.replication.factor")?,
        min_insync_replicas: v.int("min.insync.replicas")?,
        message_max_bytes: v.int("message.max.bytes")?,
        socket_request_max_bytes: v.int("socket.request.max.bytes")?,
        fetch_max_bytes: v.int("fetch.max.bytes")?,
        log_retention_check_interval_ms: v.integer("log.retention.check.interval.ms")?,
        log_cleaner_enable: v.boolean("log.cleaner.enable")?,
        log_cleaner_backoff_ms: v.integer("log.cleaner.backoff.ms")?,
        group_initial_rebalance_delay_ms: v.int("group.initial.rebalance.delay.ms")?,
        group_min_session_timeout_ms,
        group_max_session_timeout_ms,
        group_max_size: v.int("group.max.size")?,
        group_consumer_session_timeout_ms: v.int("group.consumer.session.timeout.ms")?,
        group_consumer_heartbeat_interval_ms: v.int("group.consumer.heartbeat.interval.ms")?,
        offsets_topic_num_partitions: v.int("offsets.topic.num.partitions")?,
        offsets_topic_replication_factor: v.short("offsets.topic.replication.factor")?,
        offsets_retention_minutes: v.integer("offsets.retention.minutes")?,
        offsets_retention_check_interval_ms: v.integer("offsets.retention.check.interval.ms")?,
        offset_metadata_max_bytes: v.int("offset.metadata.max.bytes")?,
        transactional_id_expiration_ms: v.integer("transactional.id.expiration.ms")?,
        transaction_max_timeout_ms: v.int("transaction.max.timeout.ms")?,
        producer_id_expiration_ms: v.integer("producer.id.expiration.ms")?,
        replica_lag_time_max_ms: v.integer("replica.lag.time.max.ms")?,
        metrics_listeners: parse_http_urls("metrics.listeners", v.raw("metrics.listeners")?)?,
        schema_registry_listeners: parse_http_urls(
            "schema.registry.listeners",
            v.raw("schema.registry.listeners")?,
        )?,
        controller_quorum_voters,
        durability: match v.raw("log.durability")? {
            "pagecache" => Durability::PageCache,
            _ => Durability::Fsync,
        },
        topic_defaults,
        explicit,
        layers,
    };
    Ok((config, warnings))
}

/// Kafka's `listener.security.protocol.map` is ignored, but a listener Riffle serves must
/// not be mapped to TLS or SASL: refusing is safer than serving plaintext instead.
fn check_security_protocol_map(
    ignored: &BTreeMap<String, String>,
    listeners: &[Listener],
) -> Result<(), ConfigError> {
    let Some(map) = ignored.get("listener.security.protocol.map") else {
        return Ok(());
    };
    for entry in split_list(map) {
        let Some((name, protocol)) = entry.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_uppercase();
        if listeners.iter().any(|l| l.name == name)
            && !protocol.trim().eq_ignore_ascii_case("PLAINTEXT")
        {
            return Err(ConfigError::invalid(
                "listener.security.protocol.map",
                map,
                format!("PLAINTEXT for listener {name} (Riffle has no TLS or SASL)"),
            ));
        }
    }
    Ok(())
}

/// Topic defaults from the broker keys, honouring Kafka's unit precedence
/// (`log.retention.ms` > `.minutes` > `.hours`, `log.roll.ms` > `.hours`).
fn build_topic_defaults(v: &Values<'_>) -> Result<TopicConfig, ConfigError> {
    let mut tc = TopicConfig::default();
    for topic in TOPIC_KEYS.iter().filter(|t| !t.broker.is_empty()) {
        let Some((key, raw)) = v.first_of(topic.broker) else {
            continue;
        };
        let spec = v.spec(key)?;
        let value = if let Some(scale) = unit_scale(key) {
            let n = spec.kind.integer(key, raw)?.saturating_mul(scale);
            // Kafka: any negative retention means "keep forever".
            if topic.name == "retention.ms" && n < 0 {
                "-1".to_string()
            } else {
                n.to_string()
            }
        } else {
            raw.to_string()
        };
        tc.apply(topic.name, &value)
            .map_err(|_| ConfigError::invalid(key, raw, spec.kind.expected()))?;
    }
    Ok(tc)
}

fn unit_scale(key: &str) -> Option<i64> {
    if key.ends_with(".hours") {
        Some(3_600_000)
    } else if key.ends_with(".minutes") {
        Some(60_000)
    } else {
        None
    }
}

impl Default for BrokerConfig {
    /// Kafka's defaults with Riffle's exceptions (see the field docs).
    fn default() -> Self {
        match build(Layers::default()) {
            Ok((config, _)) => config,
            // The key table's defaults are checked by unit tests; this cannot happen.
            Err(e) => panic!("built-in defaults are invalid: {e}"),
        }
    }
}

impl BrokerConfig {
    /// Load settings: defaults < `file` < `env` < `overrides`.
    ///
    /// `file` is TOML if its extension is `.toml`, else Java properties (Kafka's
    /// `server.properties`). From `env`, only names starting with `RIFFLE_` count
    /// (`RIFFLE_LOG_DIRS` is `log.dirs`), except those [`is_setting_env_var`] rules out
    /// (`RIFFLE_LOG`, `RIFFLE_BIN`, `RIFFLE_TEST_*`, ...).
    /// Kafka settings without meaning for Riffle give one warning each; unknown keys and bad
    /// values are errors naming the key, what it accepts and where it came from.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, String)],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(BrokerConfig, Vec<Warning>), ConfigError> {
        let mut loader = Loader::default();
        if let Some(path) = file {
            loader.add_layer(read_file(path)?)?;
        }
        let env_layer = env
            .into_iter()
            .filter(|(name, _)| is_setting_env_var(name))
            .map(|(name, value)| Given {
                key: env_key(&name),
                value,
                origin: Some(format!("environment variable {name}")),
            })
            .collect();
        loader.add_layer(env_layer)?;
        let override_layer = overrides
            .iter()
            .map(|(key, value)| Given {
                key: key.clone(),
                value: value.clone(),
                origin: Some(format!("--override {key}={value}")),
            })
            .collect();
        loader.add_layer(override_layer)?;
        loader.finish()
    }

    /// Defaults with `pairs` (broker keys) on top, as one static source.
    pub fn from_pairs(
        pairs: &[(String, String)],
    ) -> Result<(BrokerConfig, Vec<Warning>), ConfigError> {
        let mut loader = Loader::default();
        loader.add_layer(
            pairs
                .iter()
                .map(|(key, value)| Given {
                    key: key.clone(),
                    value: value.clone(),
                    origin: None,
                })
                .collect(),
        )?;
        loader.finish()
    }

    /// Every broker setting Riffle uses, for DescribeConfigs on the broker resource.
    /// Aliases (`broker.id`, `log.dir`) show the effective value of their group.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        BROKER_KEYS
            .iter()
            .map(|spec| {
                let own = self.explicit.get(spec.name);
                let via_alias = || {
                    key_group(spec.name)
                        .filter(|g| !g.units)
                        .and_then(|g| g.keys.iter().find_map(|k| self.explicit.get(*k)))
                };
                let (value, source) = match own.or_else(via_alias) {
                    Some((value, source)) => (Some(value.clone()), *source),
                    None => (
                        spec.default
                            .map(str::to_string)
                            .or_else(|| self.derived_default(spec.name)),
                        ConfigSource::Default,
                    ),
                };
                ConfigEntry {
                    name: spec.name.to_string(),
                    value,
                    source,
                    read_only: !spec.dynamic,
                    sensitive: false,
                    config_type: spec.kind.config_type(),
                    documentation: Some(spec.doc.to_string()),
                }
            })
            .collect()
    }

    /// Values of keys whose Kafka default is "take it from another key".
    fn derived_default(&self, key: &str) -> Option<String> {
        match key {
            "broker.id" => Some(self.node_id.to_string()),
            "log.dir" => Some(
                self.log_dirs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            "advertised.listeners" => Some(
                self.advertised_listeners
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    }

    /// AlterConfigs on the broker: set (`Some`) or remove (`None`, back to the static value
    /// or default) one dynamic key. Read-only, ignored and unknown keys and bad values are
    /// errors, and then nothing changes. Only the fields the key feeds are rewritten.
    pub fn set_dynamic(&mut self, key: &str, value: Option<&str>) -> Result<(), ConfigError> {
        let Some(spec) = broker_key(key) else {
            if is_ignored_kafka_key(key) {
                return Err(ConfigError::Unsupported {
                    key: key.to_string(),
                });
            }
            return Err(unknown_broker_key(key));
        };
        if !spec.dynamic {
            return Err(ConfigError::ReadOnly {
                key: key.to_string(),
            });
        }
        let mut layers = self.layers.clone();
        match value {
            Some(value) => {
                let normalized = spec.kind.normalize(key, value)?;
                layers.dynamic_values.insert(key.to_string(), normalized);
            }
            None => {
                layers.dynamic_values.remove(key);
            }
        }
        let (fresh, _) = build(layers)?;
        if let Some(topic) = spec.topic {
            let mut topic_defaults = self.topic_defaults.clone();
            if let Some(v) = fresh.topic_defaults.value_of(topic) {
                topic_defaults.apply(topic, &v)?;
            }
            self.topic_defaults = topic_defaults;
        }
        match key {
            "message.max.bytes" => self.message_max_bytes = fresh.message_max_bytes,
            "min.insync.replicas" => self.min_insync_replicas = fresh.min_insync_replicas,
            _ => {}
        }
        self.explicit = fresh.explicit;
        self.layers = fresh.layers;
        Ok(())
    }

    /// The broker keys AlterConfigs may change while running.
    pub fn dynamic_keys() -> impl Iterator<Item = &'static str> {
        BROKER_KEYS.iter().filter(|k| k.dynamic).map(|k| k.name)
    }

    /// Kafka settings from the sources that Riffle ignored, with their values.
    pub fn ignored_kafka_settings(&self) -> &BTreeMap<String, String> {
        &self.layers.ignored
    }
}

/// `RIFFLE_LOG_DIRS` -> `log.dirs`.
fn env_key(name: &str) -> String {
    name.strip_prefix(ENV_PREFIX)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', ".")
}

fn read_file(path: &Path) -> Result<Vec<Given>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let is_toml = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
    let entries = if is_toml {
        parse_toml(&text)
    } else {
        parse_properties(&text)
    }
    .map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    Ok(entries
        .into_iter()
        .map(|e| Given {
            origin: Some(match e.line {
                Some(line) => format!("{}:{line}", path.display()),
                None => path.display().to_string(),
            }),
            key: e.key,
            value: e.value,
        })
        .collect())
}

/// Split a `--override key=value` argument at the first `=`.
pub fn parse_override(s: &str) -> Result<(String, String), ConfigError> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(ConfigError::BadOverride { arg: s.to_string() }),
    }
}
