//! DeleteRecords (key 21): move a partition's log start offset up (offset -1 = the high
//! watermark), deleting whole segments below it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::errors::storage_error_code;
use crate::state::Broker;

pub fn handle(broker: &Broker, _version: i16, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|dp| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(dp.partition_index)
                        .with_low_watermark(-1);
                    let Some(p) = topic.as_ref().and_then(|t| t.partition(dp.partition_index))
                    else {
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if p.replica.is_some() {
                        // Deleting a prefix must go through the partition's Raft log first.
                        return r.with_error_code(ResponseError::PolicyViolation.code());
                    }
                    let hw = p.high_watermark();
                    let offset = if dp.offset == -1 { hw } else { dp.offset };
                    if offset < 0 || offset > hw {
                        return r.with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match p.log.delete_records_before(offset) {
                        Ok(low) => r.with_low_watermark(low),
                        Err(e) => r.with_error_code(storage_error_code(&e)),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
