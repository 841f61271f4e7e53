//! OffsetCommit (key 8): partitions the broker does not have are UNKNOWN_TOPIC_OR_PARTITION,
//! oversized metadata OFFSET_METADATA_TOO_LARGE; the rest go to the group coordinator, whose
//! verdict (generation, member, group state, then the durable write to
//! `__consumer_offsets`) applies to all of them. The answer waits until the commit is durable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, ResponseKind};

use super::Reply;

use crate::group::{OffsetToCommit, OFFSET_METADATA_BYTES_MAX};
use crate::state::Broker;

pub fn handle(broker: &Broker, version: i16, req: OffsetCommitRequest) -> Reply {
    // Per partition: Some(code) when decided here, None when it goes to the coordinator.
    let mut verdicts: Vec<(usize, i32, Option<i16>)> = vec![];
    let mut to_commit = vec![];
    for (ti, t) in req.topics.iter().enumerate() {
        let topic = broker.topic(t.name.0.as_str());
        for p in &t.partitions {
            let exists = topic
                .as_ref()
                .is_some_and(|tp| tp.partition(p.partition_index).is_some());
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string());
            let verdict = if !exists {
                Some(ResponseError::UnknownTopicOrPartition.code())
            } else if metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
            {
                Some(ResponseError::OffsetMetadataTooLarge.code())
            } else {
                to_commit.push(OffsetToCommit {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata,
                });
                None
            };
            verdicts.push((ti, p.partition_index, verdict));
        }
    }
    let committed = (!to_commit.is_empty()).then(|| {
        let retention_time_ms = if (2..=4).contains(&version) {
            req.retention_time_ms
        } else {
            -1
        };
        broker.groups.commit_offsets(
            req.group_id.0.as_str(),
            req.generation_id_or_member_epoch,
            req.member_id.as_str(),
            req.group_instance_id.as_ref().map(|s| s.as_str()),
            retention_time_ms,
            to_commit,
        )
    });
    let topics: Vec<OffsetCommitResponseTopic> = req
        .topics
        .iter()
        .map(|t| OffsetCommitResponseTopic::default().with_name(t.name.clone()))
        .collect();
    let respond = move |group_code: i16| {
        let mut topics = topics;
        for (ti, partition, verdict) in verdicts {
            if let Some(t) = topics.get_mut(ti) {
                t.partitions.push(
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition)
                        .with_error_code(verdict.unwrap_or(group_code)),
                );
            }
        }
        ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
    };
    match committed {
        None => Reply::Now(respond(0)),
        Some(rx) => Reply::Later(Box::pin(async move {
            let code = match rx.await {
                Ok(Ok(())) => 0,
                Ok(Err(code)) => code,
                Err(_) => ResponseError::CoordinatorNotAvailable.code(),
            };
            respond(code)
        })),
    }
}
