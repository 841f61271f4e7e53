//! OffsetDelete (key 47, KIP-496): delete a group's committed offsets for partitions of topics
//! it is not subscribed to; answered once the tombstones are durable.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind};

use super::Reply;
use crate::state::Broker;

pub fn handle(broker: &Arc<Broker>, _version: i16, req: OffsetDeleteRequest) -> Reply {
    // Each requested partition either exists (an index into `asked`, which goes to the group)
    // or is answered UNKNOWN_TOPIC_OR_PARTITION.
    let mut asked: Vec<(String, i32)> = vec![];
    let plan: Vec<Vec<Option<usize>>> = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.topic(t.name.0.as_str());
            t.partitions
                .iter()
                .map(|p| {
                    topic
                        .as_ref()
                        .and_then(|topic| topic.partition(p.partition_index))
                        .map(|_| {
                            asked.push((t.name.0.to_string(), p.partition_index));
                            asked.len() - 1
                        })
                })
                .collect()
        })
        .collect();
    let outcome = broker
        .groups
        .delete_offsets(req.group_id.0.as_str(), &asked);
    Reply::Later(Box::pin(async move {
        let (codes, durable) = match outcome {
            Ok(x) => x,
            Err(code) => {
                return ResponseKind::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(code),
                )
            }
        };
        let storage_error = match durable.await {
            Ok(Ok(())) => None,
            Ok(Err(code)) => Some(code),
            Err(_) => Some(ResponseError::UnknownServerError.code()),
        };
        let topics = req
            .topics
            .into_iter()
            .zip(plan)
            .map(|(t, slots)| {
                let partitions = t
                    .partitions
                    .iter()
                    .zip(slots)
                    .map(|(p, slot)| {
                        let code = match slot {
                            None => ResponseError::UnknownTopicOrPartition.code(),
                            Some(i) => match codes.get(i).copied() {
                                Some(0) => storage_error.unwrap_or(0),
                                Some(code) => code,
                                None => ResponseError::UnknownServerError.code(),
                            },
                        };
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect();
        ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_topics(topics))
    }))
}
