//! CreateTopics (key 19): partitions, replication factor, manual assignments and configs,
//! `validate_only`, with Kafka's error codes and a message naming what is wrong.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use riffle_config::TopicConfig;

use super::describe_configs::source_code;
use super::str_bytes;
use crate::errors::topic_error_code;
use crate::state::{Broker, TopicError};

pub fn handle(broker: &Broker, version: i16, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            if seen.get(&name).copied().unwrap_or(0) > 1 {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "topic '{name}' appears more than once in the request"
                    ))));
            }
            match create_one(broker, &t, req.validate_only) {
                Ok((id, partitions, rf, tc, overrides)) => {
                    let mut r = result
                        .with_topic_id(id)
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf);
                    if version >= 5 {
                        let cfg = broker.config.read();
                        r.configs = Some(
                            tc.describe(&overrides, &cfg)
                                .into_iter()
                                .map(|e| {
                                    CreatableTopicConfigs::default()
                                        .with_name(str_bytes(e.name))
                                        .with_value(e.value.map(str_bytes))
                                        .with_read_only(e.read_only)
                                        .with_config_source(source_code(e.source))
                                        .with_is_sensitive(e.sensitive)
                                })
                                .collect(),
                        );
                    }
                    r
                }
                Err(e) => {
                    tracing::info!(topic = %name, "create topic refused: {e}");
                    result
                        .with_error_code(topic_error_code(&e))
                        .with_error_message(Some(str_bytes(e.to_string())))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

type Created = (uuid::Uuid, i32, i16, TopicConfig, BTreeMap<String, String>);

fn create_one(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<Created, TopicError> {
    let name = t.name.0.as_str();
    let (default_partitions, default_rf) = {
        let cfg = broker.config.read();
        (cfg.num_partitions, cfg.default_replication_factor)
    };
    let (partitions, rf) = if t.assignments.is_empty() {
        (
            if t.num_partitions == -1 {
                default_partitions
            } else {
                t.num_partitions
            },
            if t.replication_factor == -1 {
                default_rf
            } else {
                t.replication_factor
            },
        )
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(TopicError::InvalidReplicaAssignment(
                "with a manual replica assignment, num_partitions and replication_factor must be -1".into(),
            ));
        }
        let rf = t.assignments[0].broker_ids.len() as i16;
        for (i, a) in t.assignments.iter().enumerate() {
            if a.partition_index != i as i32 {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "partition indexes must be consecutive from 0; got {} at position {i}",
                    a.partition_index
                )));
            }
            if a.broker_ids.len() as i16 != rf {
                return Err(TopicError::InvalidReplicaAssignment(
                    "every partition must have the same number of replicas".into(),
                ));
            }
            if let Some(b) = a.broker_ids.iter().find(|b| b.0 != broker.node_id) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "broker {} is not in the cluster (brokers: {})",
                    b.0, broker.node_id
                )));
            }
        }
        (t.assignments.len() as i32, rf)
    };
    let mut overrides = BTreeMap::new();
    for c in &t.configs {
        if let Some(v) = &c.value {
            overrides.insert(c.name.to_string(), v.to_string());
        }
    }
    if validate_only {
        let tc = broker.validate_new_topic(name, partitions, rf, &overrides)?;
        return Ok((uuid::Uuid::nil(), partitions, rf, tc, overrides));
    }
    let topic = broker.create_topic(name, partitions, rf, overrides.clone())?;
    let tc = topic.config.read().clone();
    Ok((topic.id, partitions, rf, tc, overrides))
}
