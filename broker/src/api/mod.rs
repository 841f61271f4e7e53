//! One handler file per Kafka API, and the dispatch from a decoded request to its handler.
//! The advertised versions come from `riffle_protocol::versions::SUPPORTED_APIS`; a test checks
//! that every advertised API has a handler here.

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod fetch;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use riffle_protocol::request::DecodedRequest;

use crate::state::Broker;

/// What a handler produced.
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

pub async fn dispatch(broker: &Arc<Broker>, req: DecodedRequest) -> Reply {
    let v = req.api_version;
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
        other => Reply::Close(format!(
            "no handler for {:?}",
            std::mem::discriminant(&other)
        )),
    }
}
