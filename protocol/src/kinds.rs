//! Which [`ApiKey`] a typed request or response body belongs to (for the APIs Riffle uses).

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

/// The api key of a request body, or `None` for APIs outside Riffle's set.
pub fn request_kind_api_key(body: &RequestKind) -> Option<ApiKey> {
    match body {
        RequestKind::Produce(_) => Some(ApiKey::Produce),
        RequestKind::Fetch(_) => Some(ApiKey::Fetch),
        RequestKind::ListOffsets(_) => Some(ApiKey::ListOffsets),
        RequestKind::Metadata(_) => Some(ApiKey::Metadata),
        RequestKind::OffsetCommit(_) => Some(ApiKey::OffsetCommit),
        RequestKind::OffsetFetch(_) => Some(ApiKey::OffsetFetch),
        RequestKind::FindCoordinator(_) => Some(ApiKey::FindCoordinator),
        RequestKind::JoinGroup(_) => Some(ApiKey::JoinGroup),
        RequestKind::Heartbeat(_) => Some(ApiKey::Heartbeat),
        RequestKind::LeaveGroup(_) => Some(ApiKey::LeaveGroup),
        RequestKind::SyncGroup(_) => Some(ApiKey::SyncGroup),
        RequestKind::DescribeGroups(_) => Some(ApiKey::DescribeGroups),
        RequestKind::ListGroups(_) => Some(ApiKey::ListGroups),
        RequestKind::SaslHandshake(_) => Some(ApiKey::SaslHandshake),
        RequestKind::ApiVersions(_) => Some(ApiKey::ApiVersions),
        RequestKind::CreateTopics(_) => Some(ApiKey::CreateTopics),
        RequestKind::DeleteTopics(_) => Some(ApiKey::DeleteTopics),
        RequestKind::DeleteRecords(_) => Some(ApiKey::DeleteRecords),
        RequestKind::InitProducerId(_) => Some(ApiKey::InitProducerId),
        RequestKind::OffsetForLeaderEpoch(_) => Some(ApiKey::OffsetForLeaderEpoch),
        RequestKind::DescribeConfigs(_) => Some(ApiKey::DescribeConfigs),
        RequestKind::AlterConfigs(_) => Some(ApiKey::AlterConfigs),
        RequestKind::CreatePartitions(_) => Some(ApiKey::CreatePartitions),
        RequestKind::DeleteGroups(_) => Some(ApiKey::DeleteGroups),
        RequestKind::OffsetDelete(_) => Some(ApiKey::OffsetDelete),
        RequestKind::IncrementalAlterConfigs(_) => Some(ApiKey::IncrementalAlterConfigs),
        RequestKind::DescribeCluster(_) => Some(ApiKey::DescribeCluster),
        RequestKind::ConsumerGroupHeartbeat(_) => Some(ApiKey::ConsumerGroupHeartbeat),
        RequestKind::ConsumerGroupDescribe(_) => Some(ApiKey::ConsumerGroupDescribe),
        _ => None,
    }
}

/// The api key of a response body, or `None` for APIs outside Riffle's set.
pub fn response_kind_api_key(body: &ResponseKind) -> Option<ApiKey> {
    match body {
        ResponseKind::Produce(_) => Some(ApiKey::Produce),
        ResponseKind::Fetch(_) => Some(ApiKey::Fetch),
        ResponseKind::ListOffsets(_) => Some(ApiKey::ListOffsets),
        ResponseKind::Metadata(_) => Some(ApiKey::Metadata),
        ResponseKind::OffsetCommit(_) => Some(ApiKey::OffsetCommit),
        ResponseKind::OffsetFetch(_) => Some(ApiKey::OffsetFetch),
        ResponseKind::FindCoordinator(_) => Some(ApiKey::FindCoordinator),
        ResponseKind::JoinGroup(_) => Some(ApiKey::JoinGroup),
        ResponseKind::Heartbeat(_) => Some(ApiKey::Heartbeat),
        ResponseKind::LeaveGroup(_) => Some(ApiKey::LeaveGroup),
        ResponseKind::SyncGroup(_) => Some(ApiKey::SyncGroup),
        ResponseKind::DescribeGroups(_) => Some(ApiKey::DescribeGroups),
        ResponseKind::ListGroups(_) => Some(ApiKey::ListGroups),
        ResponseKind::SaslHandshake(_) => Some(ApiKey::SaslHandshake),
        ResponseKind::ApiVersions(_) => Some(ApiKey::ApiVersions),
        ResponseKind::CreateTopics(_) => Some(ApiKey::CreateTopics),
        ResponseKind::DeleteTopics(_) => Some(ApiKey::DeleteTopics),
        ResponseKind::DeleteRecords(_) => Some(ApiKey::DeleteRecords),
        ResponseKind::InitProducerId(_) => Some(ApiKey::InitProducerId),
        ResponseKind::OffsetForLeaderEpoch(_) => Some(ApiKey::OffsetForLeaderEpoch),
        ResponseKind::DescribeConfigs(_) => Some(ApiKey::DescribeConfigs),
        ResponseKind::AlterConfigs(_) => Some(ApiKey::AlterConfigs),
        ResponseKind::CreatePartitions(_) => Some(ApiKey::CreatePartitions),
        ResponseKind::DeleteGroups(_) => Some(ApiKey::DeleteGroups),
        ResponseKind::OffsetDelete(_) => Some(ApiKey::OffsetDelete),
        ResponseKind::IncrementalAlterConfigs(_) => Some(ApiKey::IncrementalAlterConfigs),
        ResponseKind::DescribeCluster(_) => Some(ApiKey::DescribeCluster),
        ResponseKind::ConsumerGroupHeartbeat(_) => Some(ApiKey::ConsumerGroupHeartbeat),
        ResponseKind::ConsumerGroupDescribe(_) => Some(ApiKey::ConsumerGroupDescribe),
        _ => None,
    }
}
