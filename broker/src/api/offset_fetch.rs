//! OffsetFetch (key 9): committed offsets of one group (v1–v7) or of several (v8+); v9 adds
//! the member id and epoch a KIP-848 consumer-protocol group checks (UNKNOWN_MEMBER_ID,
//! STALE_MEMBER_EPOCH). Null
//! topics (v2+) ask for every committed partition; a partition without a commit is -1.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use crate::group::FetchedOffset;
use crate::state::Broker;

/// The group's offsets grouped by topic, in request order (or name order for "all").
fn fetch(
    broker: &Broker,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Vec<FetchedOffset>)>, i16> {
    let order: Option<Vec<String>> = topics
        .as_ref()
        .map(|ts| ts.iter().map(|(t, _)| t.clone()).collect());
    let fetched = broker.groups.fetch_offsets(group_id, topics.as_deref())?;
    let mut by_topic: BTreeMap<String, Vec<FetchedOffset>> = BTreeMap::new();
    for f in fetched {
        by_topic.entry(f.topic.clone()).or_default().push(f);
    }
    Ok(match order {
        Some(order) => order
            .into_iter()
            .map(|t| {
                let parts = by_topic.remove(&t).unwrap_or_default();
                (t, parts)
            })
            .collect(),
        None => by_topic.into_iter().collect(),
    })
}

pub fn handle(broker: &Broker, version: i16, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let base = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                // v9: a member of a consumer-protocol group names itself and its epoch.
                let member_check = (version >= 9)
                    .then(|| {
                        broker.groups.consumer().validate_offset_fetch(
                            g.group_id.0.as_str(),
                            g.member_id.as_ref().map(|m| m.as_str()),
                            g.member_epoch,
                        )
                    })
                    .flatten();
                if let Some(Err(e)) = member_check {
                    return base.with_error_code(e.code());
                }
                match fetch(broker, g.group_id.0.as_str(), topics) {
                    Err(code) => base.with_error_code(code),
                    Ok(topics) => base.with_topics(
                        topics
                            .into_iter()
                            .map(|(name, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(name)))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|f| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(f.partition)
                                                    .with_committed_offset(f.offset)
                                                    .with_committed_leader_epoch(f.leader_epoch)
                                                    .with_metadata(f.metadata.map(str_bytes))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    match fetch(broker, req.group_id.0.as_str(), topics) {
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code),
        Err(_) => OffsetFetchResponse::default(),
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(name, parts)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|f| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(f.partition)
                                        .with_committed_offset(f.offset)
                                        .with_committed_leader_epoch(f.leader_epoch)
                                        .with_metadata(f.metadata.map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
