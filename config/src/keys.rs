//! The tables of setting names: broker keys Riffle uses, topic keys, Kafka broker keys Riffle
//! ignores, and groups of keys that set one value (aliases and time units).

use crate::value::{int_at_least, long_at_least, short_at_least, ConfigType, Kind};

/// A broker-level setting Riffle understands.
pub(crate) struct BrokerKey {
    pub name: &'static str,
    pub kind: Kind,
    /// Text of the default, `None` where Kafka's default is null (derived from another key).
    pub default: Option<&'static str>,
    /// Whether AlterConfigs on the broker may change it while running.
    pub dynamic: bool,
    /// The topic-level key this broker key is the default for.
    pub topic: Option<&'static str>,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        kind,
        default,
        dynamic: false,
        topic: None,
        doc,
    }
}

/// A broker key that is the cluster-wide default of a topic key; these are dynamic.
const fn topic_default(
    name: &'static str,
    topic: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        kind,
        default,
        dynamic: true,
        topic: Some(topic),
        doc,
    }
}

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

const COMPRESSION_TYPES: &[&str] = &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// Riffle's default for `log.retention.check.interval.ms`. Kafka's is 300000 (5 minutes);
/// Riffle's retention check only compares segment metadata (last timestamp, sizes) kept in
/// memory, so checking every 5 s is cheap and makes retention visible to tests and users soon.
pub const LOG_RETENTION_CHECK_INTERVAL_MS_DEFAULT: i64 = 5000;

pub(crate) static BROKER_KEYS: &[BrokerKey] = &[
    key("node.id", int_at_least(0), Some("1"), "This node's id; unique in the cluster (alias broker.id)."),
    key("broker.id", int_at_least(0), None, "Kafka's older name for node.id."),
    key("log.dirs", Kind::Paths, Some("./data"), "Directories where partition logs are kept (alias log.dir)."),
    key("log.dir", Kind::Paths, None, "Kafka's single-directory form of log.dirs; log.dirs wins."),
    key("listeners", Kind::Listeners, Some("PLAINTEXT://127.0.0.1:9092"), "Kafka listeners NAME://host:port; an empty host binds every interface."),
    key("advertised.listeners", Kind::Listeners, None, "Addresses given to clients in Metadata; default: listeners, wildcard hosts replaced by 127.0.0.1."),
    key("auto.create.topics.enable", Kind::Bool, Some("false"), "Create topics on first Metadata/Produce. Off by default (Kafka: on), as in the platform's cluster."),
    key("delete.topic.enable", Kind::Bool, Some("true"), "Whether DeleteTopics is allowed."),
    key("num.partitions", int_at_least(1), Some("1"), "Partitions of auto-created topics and of CreateTopics with -1."),
    key("default.replication.factor", Kind::Integer { min: 1, max: i16::MAX as i64, ty: ConfigType::Int }, Some("1"), "Replication factor of auto-created topics and of CreateTopics with -1."),
    topic_default("min.insync.replicas", "min.insync.replicas", int_at_least(1), Some("1"), "Replicas that must have a record before acks=all succeeds."),
    topic_default("message.max.bytes", "max.message.bytes", int_at_least(0), Some("1048588"), "Largest record batch accepted, after compression."),
    key("socket.request.max.bytes", int_at_least(1), Some("104857600"), "Largest request frame accepted."),
    key("fetch.max.bytes", int_at_least(1024), Some("57671680"), "Largest Fetch response."),
    key("log.retention.check.interval.ms", long_at_least(1), Some("5000"), "How often retention runs. Riffle default 5000 (Kafka 300000): the check reads segment metadata only."),
    key("log.cleaner.enable", Kind::Bool, Some("true"), "Whether compacted topics are compacted."),
    key("log.cleaner.backoff.ms", long_at_least(1), Some("15000"), "Pause between log-cleaner passes over the compacted partitions."),
    key("group.initial.rebalance.delay.ms", int_at_least(0), Some("3000"), "Wait for more members before the first rebalance of an empty group."),
    key("group.min.session.timeout.ms", int_at_least(0), Some("6000"), "Smallest session timeout a consumer may ask for."),
    key("group.max.session.timeout.ms", int_at_least(0), Some("1800000"), "Largest session timeout a consumer may ask for."),
    key("group.max.size", int_at_least(1), Some(INT_MAX), "Most members in one consumer group."),
    key("group.consumer.session.timeout.ms", int_at_least(1), Some("45000"), "Session timeout of members of consumer-protocol (KIP-848) groups."),
    key("group.consumer.heartbeat.interval.ms", int_at_least(1), Some("5000"), "Heartbeat interval given to members of consumer-protocol (KIP-848) groups."),
    key("offsets.topic.num.partitions", int_at_least(1), Some("50"), "Partitions of __consumer_offsets."),
    key("offsets.topic.replication.factor", short_at_least(1), Some("3"), "Replication factor of __consumer_offsets; the broker clamps it to the cluster size."),
    key("offsets.retention.minutes", int_at_least(1), Some("10080"), "How long committed offsets of an empty group are kept."),
    key("offsets.retention.check.interval.ms", long_at_least(1), Some("600000"), "How often expired offsets are removed."),
    key("offset.metadata.max.bytes", int_at_least(0), Some("4096"), "Largest metadata string of a committed offset."),
    key("transactional.id.expiration.ms", int_at_least(1), Some("604800000"), "Idle time after which a transactional id expires."),
    key("transaction.max.timeout.ms", int_at_least(1), Some("900000"), "Largest transaction timeout a producer may ask for."),
    key("producer.id.expiration.ms", int_at_least(1), Some("86400000"), "Idle time after which an idempotent producer's state expires."),
    key("replica.lag.time.max.ms", long_at_least(1), Some("30000"), "A follower that has not caught up for this long leaves the ISR."),
    key("controller.quorum.voters", Kind::Voters, Some(""), "The controller Raft group: id@host:port of every node's Riffle transport."),
    key("log.durability", Kind::OneOf(&["fsync", "pagecache"]), Some("fsync"), "Riffle: fsync = acknowledge a Raft append after fdatasync; pagecache = Kafka's page-cache-only behaviour."),
    key("metrics.listeners", Kind::HttpUrls, Some("http://127.0.0.1:9644"), "Riffle: http://host:port addresses serving Prometheus /metrics; empty disables."),
    key("schema.registry.listeners", Kind::HttpUrls, Some("http://127.0.0.1:8081"), "Riffle: http://host:port addresses serving the Schema Registry API; empty disables."),
    // Cluster-wide defaults of topic settings.
    topic_default("log.retention.ms", "retention.ms", long_at_least(-1), None, "Default retention.ms; wins over log.retention.minutes and .hours. -1: keep forever."),
    topic_default("log.retention.minutes", "retention.ms", int_at_least(-1), None, "Default retention in minutes, if log.retention.ms is not set."),
    topic_default("log.retention.hours", "retention.ms", int_at_least(-1), Some("168"), "Default retention in hours, if neither log.retention.ms nor .minutes is set."),
    topic_default("log.retention.bytes", "retention.bytes", long_at_least(-1), Some("-1"), "Default retention.bytes per partition; -1: no size limit."),
    topic_default("log.segment.bytes", "segment.bytes", int_at_least(14), Some("1073741824"), "Default segment.bytes."),
    topic_default("log.roll.ms", "segment.ms", long_at_least(1), None, "Default segment.ms; wins over log.roll.hours."),
    topic_default("log.roll.hours", "segment.ms", int_at_least(1), Some("168"), "Default segment roll time in hours, if log.roll.ms is not set."),
    topic_default("log.cleanup.policy", "cleanup.policy", Kind::CleanupPolicy, Some("delete"), "Default cleanup.policy."),
    topic_default("log.index.interval.bytes", "index.interval.bytes", int_at_least(0), Some("4096"), "Default index.interval.bytes."),
    topic_default("log.index.size.max.bytes", "segment.index.bytes", int_at_least(4), Some("10485760"), "Default segment.index.bytes."),
    topic_default("log.segment.index.bytes", "segment.index.bytes", int_at_least(4), None, "Riffle alias of log.index.size.max.bytes."),
    topic_default("log.cleaner.delete.retention.ms", "delete.retention.ms", long_at_least(0), Some("86400000"), "Default delete.retention.ms (how long tombstones stay)."),
    topic_default("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio", Kind::Double { min: 0.0, max: 1.0 }, Some("0.5"), "Default min.cleanable.dirty.ratio."),
    topic_default("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms", long_at_least(0), Some("0"), "Default min.compaction.lag.ms."),
    topic_default("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms", long_at_least(1), Some(LONG_MAX), "Default max.compaction.lag.ms."),
    topic_default("log.segment.delete.delay.ms", "file.delete.delay.ms", long_at_least(0), Some("60000"), "Default file.delete.delay.ms."),
    topic_default("log.preallocate", "preallocate", Kind::Bool, Some("false"), "Default preallocate."),
    topic_default("log.message.timestamp.type", "message.timestamp.type", Kind::OneOf(TIMESTAMP_TYPES), Some("CreateTime"), "Default message.timestamp.type."),
    topic_default("log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms", long_at_least(0), Some(LONG_MAX), "Default message.timestamp.before.max.ms."),
    topic_default("log.message.timestamp.difference.max.ms", "message.timestamp.before.max.ms", long_at_least(0), None, "Deprecated; used as log.message.timestamp.before.max.ms when that is not set."),
    topic_default("log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms", long_at_least(0), Some(LONG_MAX), "Default message.timestamp.after.max.ms."),
    topic_default("compression.type", "compression.type", Kind::OneOf(COMPRESSION_TYPES), Some("producer"), "Default compression.type."),
    topic_default("unclean.leader.election.enable", "unclean.leader.election.enable", Kind::Bool, Some("false"), "Default unclean.leader.election.enable."),
];

pub(crate) fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    BROKER_KEYS.iter().find(|k| k.name == name)
}

/// Keys that set one value. The first key of a group wins over the later ones when both
/// come from the same source; a later source (env over file) replaces the whole group.
pub(crate) struct KeyGroup {
    pub keys: &'static [&'static str],
    /// Same value in another unit (hours vs ms) rather than another name for the same value.
    pub units: bool,
}

pub(crate) static KEY_GROUPS: &[KeyGroup] = &[
    KeyGroup {
        keys: &["node.id", "broker.id"],
        units: false,
    },
    KeyGroup {
        keys: &["log.dirs", "log.dir"],
        units: false,
    },
    KeyGroup {
        keys: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        units: true,
    },
    KeyGroup {
        keys: &["log.roll.ms", "log.roll.hours"],
        units: true,
    },
    KeyGroup {
        keys: &["log.index.size.max.bytes", "log.segment.index.bytes"],
        units: false,
    },
    KeyGroup {
        keys: &[
            "log.message.timestamp.before.max.ms",
            "log.message.timestamp.difference.max.ms",
        ],
        units: true,
    },
];

pub(crate) fn key_group(name: &str) -> Option<&'static KeyGroup> {
    KEY_GROUPS.iter().find(|g| g.keys.contains(&name))
}

/// A topic-level setting (CreateTopics configs, AlterConfigs on a topic).
pub(crate) struct TopicKey {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's default, used for keys without a broker synonym or not held in `TopicConfig`.
    pub default: &'static str,
    /// Broker keys that give the default, first wins.
    pub broker: &'static [&'static str],
    /// Whether `TopicConfig` holds it; other keys are validated and accepted but do nothing.
    pub used: bool,
    pub doc: &'static str,
}

const fn topic(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    broker: &'static [&'static str],
    doc: &'static str,
) -> TopicKey {
    TopicKey {
        name,
        kind,
        default,
        broker,
        used: true,
        doc,
    }
}

/// A Kafka topic key Riffle accepts (so tools that set it keep working) but does not act on.
const fn inert(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> TopicKey {
    TopicKey {
        name,
        kind,
        default,
        broker: &[],
        used: false,
        doc,
    }
}

pub(crate) static TOPIC_KEYS: &[TopicKey] = &[
    topic(
        "cleanup.policy",
        Kind::CleanupPolicy,
        "delete",
        &["log.cleanup.policy"],
        "delete, compact, or both.",
    ),
    topic(
        "compression.type",
        Kind::OneOf(COMPRESSION_TYPES),
        "producer",
        &["compression.type"],
        "producer keeps the producer's compression; the others re-compress on the way in.",
    ),
    inert(
        "compression.gzip.level",
        Kind::Integer {
            min: -1,
            max: 9,
            ty: ConfigType::Int,
        },
        "-1",
        "Accepted, not used by Riffle.",
    ),
    inert(
        "compression.lz4.level",
        Kind::Integer {
            min: 1,
            max: 17,
            ty: ConfigType::Int,
        },
        "9",
        "Accepted, not used by Riffle.",
    ),
    inert(
        "compression.zstd.level",
        Kind::Integer {
            min: -131072,
            max: 22,
            ty: ConfigType::Int,
        },
        "3",
        "Accepted, not used by Riffle.",
    ),
    topic(
        "delete.retention.ms",
        long_at_least(0),
        "86400000",
        &["log.cleaner.delete.retention.ms"],
        "How long tombstones stay in a compacted log.",
    ),
    topic(
        "file.delete.delay.ms",
        long_at_least(0),
        "60000",
        &["log.segment.delete.delay.ms"],
        "Wait before a removed segment's files are deleted.",
    ),
    topic(
        "flush.messages",
        long_at_least(1),
        LONG_MAX,
        &[],
        "Kafka's forced-flush interval in records; Riffle's durability is log.durability.",
    ),
    topic(
        "flush.ms",
        long_at_least(0),
        LONG_MAX,
        &[],
        "Kafka's forced-flush interval in ms; Riffle's durability is log.durability.",
    ),
    inert(
        "follower.replication.throttled.replicas",
        Kind::List,
        "",
        "Accepted, not used by Riffle.",
    ),
    topic(
        "index.interval.bytes",
        int_at_least(0),
        "4096",
        &["log.index.interval.bytes"],
        "Bytes between offset index entries.",
    ),
    inert(
        "leader.replication.throttled.replicas",
        Kind::List,
        "",
        "Accepted, not used by Riffle.",
    ),
    inert(
        "local.retention.bytes",
        long_at_least(-2),
        "-2",
        "Tiered storage; accepted, not used by Riffle.",
    ),
    inert(
        "local.retention.ms",
        long_at_least(-2),
        "-2",
        "Tiered storage; accepted, not used by Riffle.",
    ),
    topic(
        "max.compaction.lag.ms",
        long_at_least(1),
        LONG_MAX,
        &["log.cleaner.max.compaction.lag.ms"],
        "Longest a record stays uncompacted.",
    ),
    topic(
        "max.message.bytes",
        int_at_least(0),
        "1048588",
        &["message.max.bytes"],
        "Largest record batch accepted, after compression.",
    ),
    inert(
        "message.downconversion.enable",
        Kind::Bool,
        "true",
        "Accepted, not used: Riffle never down-converts.",
    ),
    inert(
        "message.format.version",
        Kind::Text,
        "3.0-IV1",
        "Deprecated in Kafka; accepted, not used.",
    ),
    topic(
        "message.timestamp.after.max.ms",
        long_at_least(0),
        LONG_MAX,
        &["log.message.timestamp.after.max.ms"],
        "How far in the future a CreateTime timestamp may be.",
    ),
    topic(
        "message.timestamp.before.max.ms",
        long_at_least(0),
        LONG_MAX,
        &[
            "log.message.timestamp.before.max.ms",
            "log.message.timestamp.difference.max.ms",
        ],
        "How far in the past a CreateTime timestamp may be.",
    ),
    inert(
        "message.timestamp.difference.max.ms",
        long_at_least(0),
        LONG_MAX,
        "Deprecated; used as message.timestamp.before.max.ms when that is not set.",
    ),
    topic(
        "message.timestamp.type",
        Kind::OneOf(TIMESTAMP_TYPES),
        "CreateTime",
        &["log.message.timestamp.type"],
        "CreateTime or LogAppendTime.",
    ),
    topic(
        "min.cleanable.dirty.ratio",
        Kind::Double { min: 0.0, max: 1.0 },
        "0.5",
        &["log.cleaner.min.cleanable.ratio"],
        "Dirty share of the log that triggers compaction.",
    ),
    topic(
        "min.compaction.lag.ms",
        long_at_least(0),
        "0",
        &["log.cleaner.min.compaction.lag.ms"],
        "Shortest time a record stays uncompacted.",
    ),
    topic(
        "min.insync.replicas",
        int_at_least(1),
        "1",
        &["min.insync.replicas"],
        "Replicas that must have a record before acks=all succeeds.",
    ),
    topic(
        "preallocate",
        Kind::Bool,
        "false",
        &["log.preallocate"],
        "Preallocate segment files.",
    ),
    inert(
        "remote.storage.enable",
        Kind::FalseOnly("Riffle has no tiered storage"),
        "false",
        "Tiered storage; only false is accepted.",
    ),
    topic(
        "retention.bytes",
        long_at_least(-1),
        "-1",
        &["log.retention.bytes"],
        "Partition size above which old segments are deleted; -1: no limit.",
    ),
    topic(
        "retention.ms",
        long_at_least(-1),
        "604800000",
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "Age after which segments are deleted; -1: keep forever.",
    ),
    topic(
        "segment.bytes",
        int_at_least(14),
        "1073741824",
        &["log.segment.bytes"],
        "Segment size at which a new segment is rolled.",
    ),
    topic(
        "segment.index.bytes",
        int_at_least(4),
        "10485760",
        &["log.index.size.max.bytes", "log.segment.index.bytes"],
        "Size of each segment's offset index.",
    ),
    inert(
        "segment.jitter.ms",
        long_at_least(0),
        "0",
        "Accepted, not used by Riffle.",
    ),
    topic(
        "segment.ms",
        long_at_least(1),
        "604800000",
        &["log.roll.ms", "log.roll.hours"],
        "Age at which a new segment is rolled.",
    ),
    topic(
        "unclean.leader.election.enable",
        Kind::Bool,
        "false",
        &["unclean.leader.election.enable"],
        "Riffle never elects an out-of-sync leader; accepted for compatibility.",
    ),
];

pub(crate) fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|k| k.name == name)
}

/// Apache Kafka broker settings (3.x docs, plus ZooKeeper-era and common Confluent ones)
/// that have no meaning for Riffle: accepted with a warning.
pub(crate) static IGNORED_KAFKA_KEYS: &[&str] = &[
    "advertised.host.name",
    "advertised.port",
    "allow.everyone.if.no.acl.found",
    "alter.config.policy.class.name",
    "alter.log.dirs.replication.quota.window.num",
    "alter.log.dirs.replication.quota.window.size.seconds",
    "authorizer.class.name",
    "auto.include.jmx.reporter",
    "auto.leader.rebalance.enable",
    "background.threads",
    "broker.heartbeat.interval.ms",
    "broker.id.generation.enable",
    "broker.rack",
    "broker.session.timeout.ms",
    "client.quota.callback.class",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "connection.failed.authentication.delay.ms",
    "connections.max.idle.ms",
    "connections.max.reauth.ms",
    "control.plane.listener.name",
    "controlled.shutdown.enable",
    "controlled.shutdown.max.retries",
    "controlled.shutdown.retry.backoff.ms",
    "controller.listener.names",
    "controller.quorum.append.linger.ms",
    "controller.quorum.bootstrap.servers",
    "controller.quorum.election.backoff.max.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.request.timeout.ms",
    "controller.quorum.retry.backoff.ms",
    "controller.quota.window.num",
    "controller.quota.window.size.seconds",
    "controller.socket.timeout.ms",
    "create.topic.policy.class.name",
    "delegation.token.expiry.check.interval.ms",
    "delegation.token.expiry.time.ms",
    "delegation.token.master.key",
    "delegation.token.max.lifetime.ms",
    "delegation.token.secret.key",
    "delete.records.purgatory.purge.interval.requests",
    "early.start.listeners",
    "eligible.leader.replicas.enable",
    "fetch.purgatory.purge.interval.requests",
    "host.name",
    "initial.broker.registration.timeout.ms",
    "inter.broker.listener.name",
    "inter.broker.protocol.version",
    "kafka.metrics.polling.interval.secs",
    "kafka.metrics.reporters",
    "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage",
    "listener.security.protocol.map",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.threads",
    "log.dir.failure.timeout.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.flush.scheduler.interval.ms",
    "log.flush.start.offset.checkpoint.interval.ms",
    "log.initial.task.delay.ms",
    "log.local.retention.bytes",
    "log.local.retention.ms",
    "log.message.downconversion.enable",
    "log.message.format.version",
    "log.roll.jitter.hours",
    "log.roll.jitter.ms",
    "max.connection.creation.rate",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "max.incremental.fetch.session.cache.slots",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.recording.level",
    "metrics.sample.window.ms",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.alter.log.dirs.threads",
    "num.replica.fetchers",
    "offsets.commit.required.acks",
    "offsets.commit.timeout.ms",
    "offsets.load.buffer.size",
    "offsets.topic.compression.codec",
    "offsets.topic.segment.bytes",
    "port",
    "principal.builder.class",
    "process.roles",
    "producer.id.expiration.check.interval.ms",
    "producer.purgatory.purge.interval.requests",
    "queued.max.request.bytes",
    "queued.max.requests",
    "quota.window.num",
    "quota.window.size.seconds",
    "replica.fetch.backoff.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.min.bytes",
    "replica.fetch.response.max.bytes",
    "replica.fetch.wait.max.ms",
    "replica.high.watermark.checkpoint.interval.ms",
    "replica.selector.class",
    "replica.socket.receive.buffer.bytes",
    "replica.socket.timeout.ms",
    "replication.quota.window.num",
    "replication.quota.window.size.seconds",
    "request.timeout.ms",
    "reserved.broker.max.id",
    "security.inter.broker.protocol",
    "security.providers",
    "server.max.startup.time.ms",
    "socket.connection.setup.timeout.max.ms",
    "socket.connection.setup.timeout.ms",
    "socket.listen.backlog.size",
    "socket.receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "super.users",
    "telemetry.max.bytes",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transaction.partition.verification.enable",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "unstable.api.versions.enable",
    "unstable.feature.versions.enable",
    "unstable.metadata.versions.enable",
];

/// Families of Kafka settings with open-ended names, all ignored with a warning.
pub(crate) static IGNORED_KAFKA_PREFIXES: &[&str] = &[
    "config.providers",
    "confluent.",
    "group.consumer.",
    "group.coordinator.",
    "group.share.",
    "jmx",
    "kafka.metrics.",
    "listener.name.",
    "log4j",
    "metadata.",
    "password.encoder.",
    "remote.log.",
    "sasl.",
    "share.",
    "ssl.",
    "transaction.state.log.",
    "zookeeper.",
];

/// A Kafka setting Riffle accepts and ignores: listed, or in an ignored family — unless it is a
/// setting Riffle uses (e.g. `group.consumer.session.timeout.ms` in the `group.consumer.` family).
pub(crate) fn is_ignored_kafka_key(name: &str) -> bool {
    !BROKER_KEYS.iter().any(|k| k.name == name)
        && (IGNORED_KAFKA_KEYS.contains(&name)
            || IGNORED_KAFKA_PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// Environment variables starting with `RIFFLE_` that are not settings: `RIFFLE_LOG` (the
/// log filter) and `RIFFLE_BIN` (which binary the test harness runs; it passes its whole
/// environment to the brokers it starts).
pub const RESERVED_ENV_VARS: &[&str] = &["RIFFLE_LOG", "RIFFLE_BIN"];

/// Families of `RIFFLE_` variables used by tests and tools, never settings (no Kafka or
/// Riffle key starts with `test.`, `kill9.` or `interop.`).
pub const RESERVED_ENV_PREFIXES: &[&str] = &["RIFFLE_TEST_", "RIFFLE_KILL9_", "RIFFLE_INTEROP_"];

/// Whether environment variable `name` carries a setting.
pub fn is_setting_env_var(name: &str) -> bool {
    name.starts_with(ENV_PREFIX)
        && !RESERVED_ENV_VARS.contains(&name)
        && !RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The prefix of environment variables that carry settings.
pub const ENV_PREFIX: &str = "RIFFLE_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tables_have_no_duplicates_or_overlaps() {
        let mut seen = std::collections::BTreeSet::new();
        for k in BROKER_KEYS {
            assert!(seen.insert(k.name), "duplicate broker key {}", k.name);
            assert!(
                !is_ignored_kafka_key(k.name),
                "{} is both used and ignored",
                k.name
            );
        }
        let mut topics = std::collections::BTreeSet::new();
        for k in TOPIC_KEYS {
            assert!(topics.insert(k.name), "duplicate topic key {}", k.name);
        }
    }

    #[test]
    fn key_defaults_pass_their_own_validation() {
        for k in BROKER_KEYS {
            if let Some(d) = k.default {
                k.kind.normalize(k.name, d).expect(k.name);
            }
            if let Some(t) = k.topic {
                assert!(
                    topic_key(t).is_some(),
                    "{} names unknown topic key {t}",
                    k.name
                );
            }
        }
        for k in TOPIC_KEYS {
            k.kind.normalize(k.name, k.default).expect(k.name);
            for b in k.broker {
                assert_eq!(broker_key(b).and_then(|b| b.topic), Some(k.name), "{b}");
            }
        }
    }

    #[test]
    fn key_groups_name_known_broker_keys() {
        for g in KEY_GROUPS {
            for k in g.keys {
                assert!(broker_key(k).is_some(), "{k}");
            }
        }
    }
}
