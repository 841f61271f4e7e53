//! ConsumerGroupHeartbeat (key 68, KIP-848): a member of a consumer-protocol group joins
//! (epoch 0), heartbeats with its owned partitions, leaves (epoch -1, static -2), and gets
//! its epoch and assignment back. Topics are named by id in assignments.

use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, TopicPartitions as ResponseTopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::str_bytes;
use crate::group::consumer::{HeartbeatRequest, TopicPartitions};
use crate::state::Broker;

pub fn handle(
    broker: &Broker,
    version: i16,
    client_id: &str,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let owned = req.topic_partitions.as_ref().map(|tps| {
        let mut out = TopicPartitions::new();
        for tp in tps {
            out.entry(tp.topic_id)
                .or_default()
                .extend(tp.partitions.iter().copied());
        }
        out
    });
    let request = HeartbeatRequest {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
        subscribed_topic_regex: if version >= 1 {
            req.subscribed_topic_regex.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        server_assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: client_id.to_string(),
        client_host: String::new(),
    };
    let lookup = |name: &str| {
        broker
            .topic(name)
            .map(|t| (t.id, t.partition_count()))
            .filter(|(_, count)| *count > 0)
    };
    let interval_ms = broker.groups.consumer().config().heartbeat_interval_ms;
    match broker
        .groups
        .consumer_heartbeat(req.group_id.0.as_str(), request, &lookup)
    {
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.error.code())
            .with_error_message(Some(str_bytes(e.message)))
            .with_member_epoch(-1),
        Ok(answer) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(answer.member_id)))
            .with_member_epoch(answer.member_epoch)
            .with_heartbeat_interval_ms(interval_ms)
            .with_assignment(answer.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(topic_id, parts)| {
                            ResponseTopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_partitions(parts.into_iter().collect())
                        })
                        .collect(),
                )
            })),
    }
}
