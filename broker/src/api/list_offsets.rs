//! ListOffsets (key 2): earliest (-2), latest (-1, the high watermark), max timestamp (-3,
//! KIP-734) and by timestamp (the first record whose timestamp is >= the one asked for,
//! found through the time index and then the batch's records).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;

use crate::errors::storage_error_code;
use crate::state::{Broker, Partition};

pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// The first record at or after `timestamp_ms` in a batch: (offset, timestamp).
fn first_record_at_or_after(batch: Bytes, timestamp_ms: i64) -> Option<(i64, i64)> {
    let mut buf = batch;
    let set = RecordBatchDecoder::decode(&mut buf).ok()?;
    set.records
        .iter()
        .find(|r| r.timestamp >= timestamp_ms)
        .map(|r| (r.offset, r.timestamp))
}

fn lookup(p: &Partition, timestamp: i64) -> Result<(i64, i64), i16> {
    match timestamp {
        LATEST_TIMESTAMP => Ok((p.high_watermark(), -1)),
        EARLIEST_TIMESTAMP => Ok((p.log.log_start_offset(), -1)),
        MAX_TIMESTAMP => Ok(match p.log.max_timestamp() {
            Some((ts, offset)) if offset < p.high_watermark() => (offset, ts),
            _ => (-1, -1),
        }),
        t if t < 0 => Err(ResponseError::InvalidRequest.code()),
        t => match p.log.batch_for_timestamp(t) {
            Ok(Some(batch)) => Ok(first_record_at_or_after(batch, t)
                .filter(|(o, _)| *o < p.high_watermark())
                .unwrap_or((-1, -1))),
            Ok(None) => Ok((-1, -1)),
            Err(e) => Err(storage_error_code(&e)),
        },
    }
}

pub fn handle(broker: &Broker, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|lp| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(lp.partition_index)
                        .with_offset(-1)
                        .with_timestamp(-1);
                    let Some(p) = topic.as_ref().and_then(|t| t.partition(lp.partition_index))
                    else {
                        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if !p.is_leader() {
                        return base.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    if lp.current_leader_epoch >= 0 && lp.current_leader_epoch != p.leader_epoch() {
                        let code = if lp.current_leader_epoch > p.leader_epoch() {
                            ResponseError::UnknownLeaderEpoch.code()
                        } else {
                            ResponseError::FencedLeaderEpoch.code()
                        };
                        return base.with_error_code(code);
                    }
                    match lookup(&p, lp.timestamp) {
                        // The leader epoch field exists from v4 on.
                        Ok((offset, ts)) => base
                            .with_offset(offset)
                            .with_timestamp(ts)
                            .with_leader_epoch(if version >= 4 { p.leader_epoch() } else { -1 }),
                        Err(code) => base.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
