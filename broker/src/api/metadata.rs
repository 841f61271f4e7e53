//! Metadata (key 3): brokers, cluster id, controller and per-topic partition leadership.
//! Unknown topics are `UNKNOWN_TOPIC_OR_PARTITION` unless `auto.create.topics.enable` is on
//! and the request allows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::state::{validate_topic_name, Broker, Topic, TopicError};

/// Operations allowed on a topic (Riffle has no ACLs yet: all of them), as the bit field
/// Kafka returns when a client asks for authorized operations (KIP-430): READ, WRITE, CREATE,
/// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// Cluster operations: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// The host and port clients should use for this broker.
pub fn advertised_endpoint(broker: &Broker) -> (String, i32) {
    let cfg = broker.config.read();
    let l = cfg
        .advertised_listeners
        .iter()
        .find(|l| l.name != "CONTROLLER")
        .or_else(|| cfg.advertised_listeners.first());
    match l {
        Some(l) => (l.host.clone(), i32::from(l.port)),
        None => ("127.0.0.1".to_string(), 9092),
    }
}

pub fn topic_metadata(broker: &Broker, t: &Topic) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .read()
        .iter()
        .map(|p| {
            let (leader, epoch, replicas, isr) = broker.partition_view(t, p);
            let code = if leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(code)
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(epoch)
                .with_replica_nodes(replicas.into_iter().map(BrokerId).collect())
                .with_isr_nodes(isr.into_iter().map(BrokerId).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(t.internal)
        .with_partitions(partitions)
}

fn error_topic(name: Option<TopicName>, id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(code)
}

/// Creates `name` with the broker's defaults if auto-creation is on.
pub fn auto_create(broker: &Broker, name: &str) -> Result<Arc<Topic>, TopicError> {
    let (partitions, rf) = {
        let cfg = broker.config.read();
        (cfg.num_partitions, cfg.default_replication_factor)
    };
    match broker.create_topic(name, partitions, rf, BTreeMap::new()) {
        Err(TopicError::AlreadyExists(_)) => broker
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string())),
        other => other,
    }
}

pub fn handle(broker: &Broker, version: i16, req: MetadataRequest) -> MetadataResponse {
    let auto_create_enabled = broker.config.read().auto_create_topics_enable;
    let allow_auto = auto_create_enabled && (version < 4 || req.allow_auto_topic_creation);
    let include_topic_ops = version >= 8 && req.include_topic_authorized_operations;
    let include_cluster_ops =
        (8..=10).contains(&version) && req.include_cluster_authorized_operations;
    let topics: Vec<MetadataResponseTopic> = match req.topics {
        None => broker
            .topics()
            .iter()
            .map(|t| topic_metadata(broker, t))
            .collect(),
        Some(list) if list.is_empty() && version == 0 => broker
            .topics()
            .iter()
            .map(|t| topic_metadata(broker, t))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|rt| match rt.name {
                Some(name) => {
                    let n = name.0.as_str();
                    match broker.topic(n) {
                        Some(t) => topic_metadata(broker, &t),
                        None if validate_topic_name(n).is_err() => error_topic(
                            Some(name.clone()),
                            Uuid::nil(),
                            ResponseError::InvalidTopicException.code(),
                        ),
                        None if allow_auto => match auto_create(broker, n) {
                            Ok(t) => topic_metadata(broker, &t),
                            Err(e) => {
                                tracing::warn!(topic = n, "auto-create failed: {e}");
                                error_topic(
                                    Some(name.clone()),
                                    Uuid::nil(),
                                    ResponseError::UnknownTopicOrPartition.code(),
                                )
                            }
                        },
                        None => error_topic(
                            Some(name.clone()),
                            Uuid::nil(),
                            ResponseError::UnknownTopicOrPartition.code(),
                        ),
                    }
                }
                None => match broker.topic_by_id(rt.topic_id) {
                    Some(t) => topic_metadata(broker, &t),
                    None => error_topic(None, rt.topic_id, ResponseError::UnknownTopicId.code()),
                },
            })
            .collect(),
    };
    let topics = topics
        .into_iter()
        .map(|t| {
            if include_topic_ops && t.error_code == 0 {
                t.with_topic_authorized_operations(TOPIC_AUTHORIZED_OPERATIONS)
            } else {
                t
            }
        })
        .collect();
    let mut resp = MetadataResponse::default();
    if include_cluster_ops {
        resp.cluster_authorized_operations = CLUSTER_AUTHORIZED_OPERATIONS;
    }
    let brokers = broker
        .brokers()
        .into_iter()
        .map(|(id, host, port)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(str_bytes(host))
                .with_port(port)
        })
        .collect();
    resp.with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
}
