//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, so consumers detect log
//! truncation after a leader change (KIP-320).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::state::Broker;

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(t.topic.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|op| {
                    let r = EpochEndOffset::default()
                        .with_partition(op.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(p) = topic.as_ref().and_then(|t| t.partition(op.partition)) else {
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if !p.is_leader() {
                        return r.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    if op.current_leader_epoch >= 0 && op.current_leader_epoch != p.leader_epoch() {
                        let code = if op.current_leader_epoch > p.leader_epoch() {
                            ResponseError::UnknownLeaderEpoch.code()
                        } else {
                            ResponseError::FencedLeaderEpoch.code()
                        };
                        return r.with_error_code(code);
                    }
                    // End offsets come from the log, as in Kafka: the current epoch ends at the
                    // log end offset, an older one where the next began. Not the high watermark:
                    // a leader that was paused and has not yet learnt it was deposed has a high
                    // watermark below records its epoch wrote and the next leader committed,
                    // which consumers may have read ("truncation detected" where there is none).
                    // A consumer never reads above the high watermark, so no end is too high.
                    if op.leader_epoch == p.leader_epoch() {
                        return r
                            .with_leader_epoch(p.leader_epoch())
                            .with_end_offset(p.log.log_end_offset());
                    }
                    if op.leader_epoch > p.leader_epoch() {
                        // Records of a later epoch than ours exist: another node leads now.
                        return r.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    match p.log.end_offset_for_epoch(op.leader_epoch) {
                        Some((epoch, end)) => r.with_leader_epoch(epoch).with_end_offset(end),
                        None => r,
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
