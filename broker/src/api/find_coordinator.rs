//! FindCoordinator (key 10): this node coordinates every group. Transaction coordinators
//! do not exist yet (COORDINATOR_NOT_AVAILABLE). v4 answers a batch of keys.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::metadata::advertised_endpoint;
use super::str_bytes;
use std::sync::Arc;

use crate::group::records::OFFSETS_TOPIC;
use crate::state::Broker;

pub const KEY_TYPE_GROUP: i8 = 0;
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// (error code, message) for a key type this broker cannot coordinate.
fn key_type_error(key_type: i8) -> Option<(i16, &'static str)> {
    match key_type {
        KEY_TYPE_GROUP => None,
        KEY_TYPE_TRANSACTION => Some((
            ResponseError::CoordinatorNotAvailable.code(),
            "transactions are not supported",
        )),
        _ => Some((ResponseError::InvalidRequest.code(), "unknown key type")),
    }
}

/// Cluster mode: the leader of the group's `__consumer_offsets` partition (the topic is
/// created on first use, as Kafka does; meanwhile COORDINATOR_NOT_AVAILABLE).
fn cluster_coordinator(broker: &Arc<Broker>, key: StrBytes) -> Coordinator {
    let unavailable = |msg: &str| {
        Coordinator::default()
            .with_key(key.clone())
            .with_node_id(BrokerId(-1))
            .with_host(str_bytes(""))
            .with_port(-1)
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            .with_error_message(Some(str_bytes(msg)))
    };
    let Some(topic) = broker.topic(OFFSETS_TOPIC) else {
        crate::group::offsets_topic::create_in_background(broker);
        return unavailable("the offsets topic is being created");
    };
    let p = broker.groups.partition_for(key.as_str());
    let Some(part) = topic.partition(p) else {
        return unavailable("the offsets topic has too few partitions");
    };
    let (leader, ..) = broker.partition_view(&topic, &part);
    match broker.brokers().into_iter().find(|b| b.0 == leader) {
        Some((id, host, port)) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(id))
            .with_host(str_bytes(host))
            .with_port(port),
        None => unavailable("the coordinator has no leader yet"),
    }
}

fn coordinator(broker: &Arc<Broker>, key: StrBytes, key_type: i8) -> Coordinator {
    if key_type == KEY_TYPE_GROUP && broker.cluster().is_some() {
        return cluster_coordinator(broker, key);
    }
    let (host, port) = advertised_endpoint(broker);
    match key_type_error(key_type) {
        None => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(broker.node_id))
            .with_host(str_bytes(host))
            .with_port(port),
        Some((code, message)) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_host(str_bytes(""))
            .with_port(-1)
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message))),
    }
}

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|k| coordinator(broker, k, req.key_type))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = coordinator(broker, req.key, req.key_type);
    let resp = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if version >= 1 {
        resp.with_error_message(c.error_message)
    } else {
        resp
    }
}
