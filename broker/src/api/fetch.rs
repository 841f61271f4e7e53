//! Fetch (key 1) for consumers: batches as stored, never above the high watermark, bounded by
//! `max_bytes` and `partition_max_bytes` (but at least one batch, KIP-74), long-polling until
//! `min_bytes` are available or `max_wait_ms` passes, woken when a high watermark moves.
//!
//! Fetch sessions (KIP-227): Riffle declines to create sessions (answers session id 0), which
//! the protocol allows; clients then keep sending full fetch requests. An incremental request
//! for a session id we never issued gets `FETCH_SESSION_ID_NOT_FOUND`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use riffle_storage::StorageError;

use super::Reply;
use crate::errors::storage_error_code;
use crate::state::Broker;

/// Longest long-poll we honour, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: i32 = 30_000;

fn partition_error(index: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_records(Some(Bytes::new()))
}

/// A replicated partition answered OFFSET_OUT_OF_RANGE: where in the response, and its replica.
type OutOfRange = (usize, usize, Arc<riffle_replication::PartitionReplica>);

/// Reads every requested partition once; returns the response, the bytes it carries, whether
/// any partition has an error, and the replicated partitions answered OFFSET_OUT_OF_RANGE.
fn read_once(
    broker: &Broker,
    version: i16,
    req: &FetchRequest,
) -> (FetchResponse, usize, bool, Vec<OutOfRange>) {
    let mut out_of_range = Vec::new();
    let mut total = 0usize;
    let max_bytes = if version >= 3 {
        req.max_bytes.max(0) as usize
    } else {
        usize::MAX
    };
    let mut saw_error = false;
    let mut responses = Vec::with_capacity(req.topics.len());
    for ft in &req.topics {
        let topic = if ft.topic.0.is_empty() && !ft.topic_id.is_nil() {
            broker.topic_by_id(ft.topic_id)
        } else {
            broker.topic(ft.topic.0.as_str())
        };
        let mut partitions = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let Some(p) = topic.as_ref().and_then(|t| t.partition(fp.partition)) else {
                saw_error = true;
                partitions.push(partition_error(
                    fp.partition,
                    ResponseError::UnknownTopicOrPartition.code(),
                ));
                continue;
            };
            if !p.is_leader() {
                saw_error = true;
                partitions.push(partition_error(
                    fp.partition,
                    ResponseError::NotLeaderOrFollower.code(),
                ));
                continue;
            }
            // KIP-320: a client ahead of or behind our leader epoch is told so.
            if fp.current_leader_epoch >= 0 && fp.current_leader_epoch != p.leader_epoch() {
                saw_error = true;
                let code = if fp.current_leader_epoch > p.leader_epoch() {
                    ResponseError::UnknownLeaderEpoch.code()
                } else {
                    ResponseError::FencedLeaderEpoch.code()
                };
                partitions.push(partition_error(fp.partition, code));
                continue;
            }
            let hw = p.high_watermark();
            let budget =
                (fp.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            // KIP-74: the first non-empty partition may exceed the budget by one batch.
            let budget = if total == 0 { budget.max(1) } else { budget };
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(hw)
                .with_last_stable_offset(hw)
                .with_log_start_offset(p.log.log_start_offset());
            if budget == 0 {
                pd.records = Some(Bytes::new());
                partitions.push(pd);
                continue;
            }
            match p
                .log
                .read(fp.fetch_offset, budget.min(u32::MAX as usize) as u32, hw)
            {
                // KIP-74: only the first partition with data may go over the request's
                // max_bytes (by one batch); a later one that would is left empty this time.
                Ok(r) if total > 0 && r.bytes.len() > budget => {
                    pd.log_start_offset = r.log_start_offset;
                    pd.records = Some(Bytes::new());
                }
                Ok(r) => {
                    total += r.bytes.len();
                    pd.log_start_offset = r.log_start_offset;
                    pd.records = Some(r.bytes);
                }
                Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                    // Rare, and in a replicated partition a sign of trouble (positions come from
                    // records already read): keep what the leader saw.
                    tracing::info!(topic = %p.topic, partition = p.index, fetch_offset = fp.fetch_offset, high_watermark = hw, leader_epoch = p.leader_epoch(), "fetch out of range: {e}");
                    saw_error = true;
                    pd.error_code = storage_error_code(&e);
                    pd.records = Some(Bytes::new());
                    if let Some(r) = &p.replica {
                        out_of_range.push((responses.len(), partitions.len(), r.clone()));
                    }
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, "fetch read failed: {e}");
                    saw_error = true;
                    pd.error_code = storage_error_code(&e);
                    pd.records = Some(Bytes::new());
                }
            }
            partitions.push(pd);
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default().with_responses(responses),
        total,
        saw_error,
        out_of_range,
    )
}

pub fn handle(broker: Arc<Broker>, version: i16, req: FetchRequest) -> Reply {
    if req.replica_id.0 >= 0 {
        // Follower fetches arrive with replication; there are no followers yet.
        return Reply::Now(ResponseKind::Fetch(
            FetchResponse::default().with_error_code(ResponseError::NotLeaderOrFollower.code()),
        ));
    }
    if version >= 7 {
        if req.session_id != 0 {
            return Reply::Now(ResponseKind::Fetch(
                FetchResponse::default()
                    .with_error_code(ResponseError::FetchSessionIdNotFound.code()),
            ));
        }
        if req.session_epoch > 0 {
            return Reply::Now(ResponseKind::Fetch(
                FetchResponse::default()
                    .with_error_code(ResponseError::InvalidFetchSessionEpoch.code()),
            ));
        }
    }
    Reply::Later(Box::pin(async move {
        let wait = Duration::from_millis(req.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX) as u64);
        let deadline = tokio::time::Instant::now() + wait;
        let min_bytes = req.min_bytes.max(0) as usize;
        loop {
            let notified = broker.hw_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (mut resp, total, saw_error, out_of_range) = read_once(&broker, version, &req);
            if total >= min_bytes || saw_error || tokio::time::Instant::now() >= deadline {
                confirm_out_of_range(&mut resp, out_of_range).await;
                return ResponseKind::Fetch(resp);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }))
}

/// How long a leader spends confirming, with a quorum, that it still leads before it tells a
/// consumer its position is out of range.
const CONFIRM_LEADERSHIP_TIMEOUT: Duration = Duration::from_secs(2);

/// A consumer's position comes from records it read, which a majority has; so a replicated
/// partition's leader whose log ends below it has been deposed without knowing yet (paused, or
/// cut off). Before answering OFFSET_OUT_OF_RANGE (which makes a consumer reset its position)
/// the leader confirms its leadership with a quorum; when it cannot, the answer is
/// NOT_LEADER_OR_FOLLOWER and the client finds the real leader.
async fn confirm_out_of_range(resp: &mut FetchResponse, out_of_range: Vec<OutOfRange>) {
    let confirmed = futures::future::join_all(out_of_range.iter().map(|(_, _, replica)| {
        tokio::time::timeout(
            CONFIRM_LEADERSHIP_TIMEOUT,
            replica.raft().ensure_linearizable(),
        )
    }))
    .await;
    for ((t, p, _), confirmed) in out_of_range.into_iter().zip(confirmed) {
        if !confirmed.is_ok_and(|r| r.is_ok()) {
            if let Some(pd) = resp
                .responses
                .get_mut(t)
                .and_then(|r| r.partitions.get_mut(p))
            {
                tracing::info!(partition = pd.partition_index, "fetch out of range on a leader that could not confirm its leadership: answering NOT_LEADER_OR_FOLLOWER");
                pd.error_code = ResponseError::NotLeaderOrFollower.code();
            }
        }
    }
}
