//! One handler file per Kafka API, and the dispatch from a decoded request to its handler.
//! The advertised versions come from `riffle_protocol::versions::SUPPORTED_APIS`; a test checks
//! that every advertised API has a handler here.

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use riffle_protocol::request::DecodedRequest;

use crate::state::Broker;

/// What a handler produced. Lives for one request and is moved once, so the size of the
/// `Now` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    /// No response (Produce with acks=0).
    None,
    Now(ResponseKind),
    /// A response that is ready later (durability, long poll); later requests of the same
    /// connection are handled meanwhile and responses still go out in order.
    Later(Pin<Box<dyn Future<Output = ResponseKind> + Send>>),
    /// Close the connection, logging the reason.
    Close(String),
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Cluster mode: a group request sent to a node that does not coordinate the group is
/// answered NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS) and the client looks again.
fn not_coordinator(broker: &Broker, body: &RequestKind, version: i16) -> Option<ResponseKind> {
    use kafka_protocol::messages::*;
    let group = match body {
        RequestKind::JoinGroup(r) => r.group_id.0.as_str(),
        RequestKind::SyncGroup(r) => r.group_id.0.as_str(),
        RequestKind::Heartbeat(r) => r.group_id.0.as_str(),
        RequestKind::LeaveGroup(r) => r.group_id.0.as_str(),
        RequestKind::OffsetCommit(r) => r.group_id.0.as_str(),
        RequestKind::OffsetFetch(r) if version < 8 => r.group_id.0.as_str(),
        RequestKind::OffsetDelete(r) => r.group_id.0.as_str(),
        RequestKind::ConsumerGroupHeartbeat(r) => r.group_id.0.as_str(),
        _ => return None,
    };
    let code = broker.coordinator_error(group)?.code();
    Some(match body {
        RequestKind::JoinGroup(_) => {
            ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(code))
        }
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(_) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        RequestKind::OffsetDelete(_) => {
            ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
        }
        RequestKind::ConsumerGroupHeartbeat(_) => ResponseKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(code)
                .with_error_message(Some(str_bytes("this node does not coordinate the group"))),
        ),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        offset_commit_response::OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        offset_commit_response::OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(
            OffsetFetchResponse::default().with_error_code(code).with_topics(
                r.topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        offset_fetch_response::OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|p| {
                                        offset_fetch_response::OffsetFetchResponsePartition::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(-1)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        _ => return None,
    })
}

pub async fn dispatch(broker: &Arc<Broker>, req: DecodedRequest) -> Reply {
    let v = req.api_version;
    if let Some(resp) = not_coordinator(broker, &req.body, v) {
        return Reply::Now(resp);
    }
    match req.body {
        RequestKind::ApiVersions(r) => {
            Reply::Now(ResponseKind::ApiVersions(api_versions::handle(v, r)))
        }
        RequestKind::Metadata(r) => {
            Reply::Now(ResponseKind::Metadata(metadata::handle(broker, v, r)))
        }
        RequestKind::Produce(r) => produce::handle(broker, v, r).await,
        RequestKind::Fetch(r) => fetch::handle(broker.clone(), v, r),
        RequestKind::ListOffsets(r) => Reply::Now(ResponseKind::ListOffsets(list_offsets::handle(
            broker, v, r,
        ))),
        RequestKind::CreateTopics(r) => Reply::Now(ResponseKind::CreateTopics(
            create_topics::handle(broker, v, r),
        )),
        RequestKind::DeleteTopics(r) => Reply::Now(ResponseKind::DeleteTopics(
            delete_topics::handle(broker, v, r),
        )),
        RequestKind::CreatePartitions(r) => Reply::Now(ResponseKind::CreatePartitions(
            create_partitions::handle(broker, v, r),
        )),
        RequestKind::DescribeConfigs(r) => Reply::Now(ResponseKind::DescribeConfigs(
            describe_configs::handle(broker, v, r),
        )),
        RequestKind::AlterConfigs(r) => Reply::Now(ResponseKind::AlterConfigs(
            alter_configs::handle(broker, v, r),
        )),
        RequestKind::IncrementalAlterConfigs(r) => Reply::Now(
            ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(broker, v, r)),
        ),
        RequestKind::DescribeCluster(r) => Reply::Now(ResponseKind::DescribeCluster(
            describe_cluster::handle(broker, v, r),
        )),
        RequestKind::DeleteRecords(r) => Reply::Now(ResponseKind::DeleteRecords(
            delete_records::handle(broker, v, r),
        )),
        RequestKind::OffsetForLeaderEpoch(r) => Reply::Now(ResponseKind::OffsetForLeaderEpoch(
            offset_for_leader_epoch::handle(broker, v, r),
        )),
        RequestKind::InitProducerId(r) => Reply::Now(ResponseKind::InitProducerId(
            init_producer_id::handle(broker, v, r),
        )),
        RequestKind::FindCoordinator(r) => Reply::Now(ResponseKind::FindCoordinator(
            find_coordinator::handle(broker, v, r),
        )),
        RequestKind::JoinGroup(r) => {
            let client_id = req.header.client_id.as_deref().unwrap_or("");
            join_group::handle(broker, v, client_id, r)
        }
        RequestKind::SyncGroup(r) => sync_group::handle(broker, v, r),
        RequestKind::Heartbeat(r) => {
            Reply::Now(ResponseKind::Heartbeat(heartbeat::handle(broker, v, r)))
        }
        RequestKind::LeaveGroup(r) => {
            Reply::Now(ResponseKind::LeaveGroup(leave_group::handle(broker, v, r)))
        }
        RequestKind::OffsetCommit(r) => offset_commit::handle(broker, v, r),
        RequestKind::OffsetFetch(r) => Reply::Now(ResponseKind::OffsetFetch(offset_fetch::handle(
            broker, v, r,
        ))),
        RequestKind::DescribeGroups(r) => Reply::Now(ResponseKind::DescribeGroups(
            describe_groups::handle(broker, v, r),
        )),
        RequestKind::ListGroups(r) => {
            Reply::Now(ResponseKind::ListGroups(list_groups::handle(broker, v, r)))
        }
        RequestKind::DeleteGroups(r) => delete_groups::handle(broker, v, r),
        RequestKind::OffsetDelete(r) => offset_delete::handle(broker, v, r),
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let client_id = req.header.client_id.as_deref().unwrap_or("");
            Reply::Now(ResponseKind::ConsumerGroupHeartbeat(
                consumer_group_heartbeat::handle(broker, v, client_id, r),
            ))
        }
        RequestKind::ConsumerGroupDescribe(r) => Reply::Now(ResponseKind::ConsumerGroupDescribe(
            consumer_group_describe::handle(broker, v, r),
        )),
        other => Reply::Close(format!(
            "no handler for {:?}",
            std::mem::discriminant(&other)
        )),
    }
}
