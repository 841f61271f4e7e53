//! Produce (key 0): validate each partition's record batch (magic 2, CRC32C, sizes, counts,
//! producer sequence), append it to the partition log, and answer once it is durable
//! (acks=1 and acks=-1: single node, so both mean "on this node's disk"); acks=0 gets no
//! answer. v0–v2 are advertised (older librdkafka picks its compression path from the
//! minimum) but answered with UNSUPPORTED_VERSION, as Kafka 4 does.

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::records::RecordBatchDecoder;
use riffle_config::TimestampType;
use riffle_protocol::batch::{set_log_append_time, BatchError, BatchIter};

use super::{str_bytes, Reply};
use crate::errors::{batch_error_code, storage_error_code};
use crate::producer_state::{last_sequence, SequenceCheck};
use crate::state::{now_ms, AppendError, Appending, Broker, Partition};

/// Replicas in sync for a partition (single node: the leader alone).
const ISR_SIZE: i32 = 1;

fn error_partition(index: i32, code: i16, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_error_message(message.map(str_bytes))
}

struct Pending {
    topic: usize,
    partition: usize,
    log: Arc<Partition>,
    appending: Option<Appending>,
    /// The idempotent producer's (id, first sequence), to fill in its offsets when committed.
    producer: Option<(i64, i32)>,
}

/// Validates the records of one partition of a produce request: exactly one v2 batch with a
/// good CRC whose header is consistent. Returns Kafka's error code and a message on failure.
/// On success returns the batch's producer id, producer epoch, base sequence and record count.
fn validate(records: &[u8], max_message_bytes: i32) -> Result<(i64, i16, i32, i32), (i16, String)> {
    if records.len() > max_message_bytes.max(0) as usize {
        return Err((
            ResponseError::MessageTooLarge.code(),
            format!(
                "record batch of {} bytes exceeds max.message.bytes {max_message_bytes}",
                records.len()
            ),
        ));
    }
    let mut iter = BatchIter::new(records);
    let batch = match iter.next() {
        None => {
            return Err((
                ResponseError::InvalidRecord.code(),
                "no record batch".into(),
            ));
        }
        Some(Err(e)) => return Err((batch_error_code(&e), e.to_string())),
        Some(Ok(b)) => b,
    };
    if iter.next().is_some() {
        return Err((
            ResponseError::InvalidRecord.code(),
            "produce v3+ carries exactly one record batch per partition".into(),
        ));
    }
    batch
        .verify_crc()
        .map_err(|e: BatchError| (batch_error_code(&e), e.to_string()))?;
    if batch.record_count() < 1 || batch.record_count() != batch.last_offset_delta() + 1 {
        return Err((
            ResponseError::InvalidRecord.code(),
            format!(
                "record count {} does not match last offset delta {}",
                batch.record_count(),
                batch.last_offset_delta()
            ),
        ));
    }
    if batch.is_control() {
        return Err((
            ResponseError::InvalidRecord.code(),
            "clients may not write control batches".into(),
        ));
    }
    if batch.compression().is_none() {
        return Err((
            ResponseError::InvalidRecord.code(),
            format!(
                "unknown compression codec in attributes {:#x}",
                batch.attributes()
            ),
        ));
    }
    Ok((
        batch.producer_id(),
        batch.producer_epoch(),
        batch.base_sequence(),
        batch.record_count(),
    ))
}

/// A compacted topic keeps the latest record per key, so every record needs one (Kafka
/// refuses keyless records there with `INVALID_RECORD`).
fn require_keys(records: &bytes::Bytes) -> Result<(), String> {
    let mut buf = records.clone();
    let set =
        RecordBatchDecoder::decode(&mut buf).map_err(|e| format!("cannot decode records: {e}"))?;
    match set.records.iter().position(|r| r.key.is_none()) {
        Some(i) => Err(format!(
            "record {i} has no key; compacted topics (cleanup.policy=compact) need a key on every record"
        )),
        None => Ok(()),
    }
}

pub async fn handle(broker: &Arc<Broker>, version: i16, req: ProduceRequest) -> Reply {
    let acks = req.acks;
    let timeout_ms = req.timeout_ms;
    let mut response = ProduceResponse::default();
    let mut pending: Vec<Pending> = vec![];
    let request_error = if version < 3 {
        Some((
            ResponseError::UnsupportedVersion.code(),
            "produce v0-v2 are not supported".to_string(),
        ))
    } else if req.transactional_id.is_some() {
        Some((
            ResponseError::TransactionalIdAuthorizationFailed.code(),
            "transactions are not supported yet".to_string(),
        ))
    } else if !matches!(acks, -1..=1) {
        Some((
            ResponseError::InvalidRequiredAcks.code(),
            format!("acks must be -1, 0 or 1, got {acks}"),
        ))
    } else {
        None
    };
    for (ti, td) in req.topic_data.into_iter().enumerate() {
        let topic = broker.topic(td.name.0.as_str());
        let mut tr = TopicProduceResponse::default().with_name(td.name.clone());
        for (pi, pd) in td.partition_data.into_iter().enumerate() {
            if let Some((code, msg)) = &request_error {
                tr.partition_responses
                    .push(error_partition(pd.index, *code, Some(msg.clone())));
                continue;
            }
            let Some((topic, partition)) = topic
                .as_ref()
                .and_then(|t| t.partition(pd.index).map(|p| (t, p)))
            else {
                tr.partition_responses.push(error_partition(
                    pd.index,
                    ResponseError::UnknownTopicOrPartition.code(),
                    None,
                ));
                continue;
            };
            let (max_message_bytes, min_isr, log_append_time, compacted) = {
                let tc = topic.config.read();
                (
                    tc.max_message_bytes,
                    tc.min_insync_replicas,
                    tc.message_timestamp_type == TimestampType::LogAppendTime,
                    tc.cleanup_policy.compacts(),
                )
            };
            if !partition.is_leader() {
                tr.partition_responses.push(error_partition(
                    pd.index,
                    ResponseError::NotLeaderOrFollower.code(),
                    Some(format!(
                        "node {} does not lead {}-{}",
                        broker.node_id, topic.name, pd.index
                    )),
                ));
                continue;
            }
            let isr_size = if partition.replica.is_some() {
                partition.isr.read().len() as i32
            } else {
                ISR_SIZE
            };
            // Checked after the idempotence check (below): a retry of a batch the log already
            // has is answered as a duplicate whatever the ISR, never "not enough replicas" (which
            // clients take as "not persisted" and may re-send under a new epoch).
            let too_few_replicas = acks == -1 && isr_size < min_isr;
            if topic.internal {
                // Kafka: clients may not append to internal topics (the coordinator writes them).
                tr.partition_responses.push(error_partition(
                    pd.index,
                    ResponseError::InvalidTopicException.code(),
                    Some(format!("cannot append to internal topic {}", topic.name)),
                ));
                continue;
            }
            let records = pd.records.unwrap_or_default();
            let (pid, epoch, first_seq, count) = match validate(&records, max_message_bytes) {
                Ok(h) => h,
                Err((code, msg)) => {
                    tracing::debug!(topic = %topic.name, partition = pd.index, "produce rejected: {msg}");
                    tr.partition_responses
                        .push(error_partition(pd.index, code, Some(msg)));
                    continue;
                }
            };
            if compacted {
                if let Err(msg) = require_keys(&records) {
                    tr.partition_responses.push(error_partition(
                        pd.index,
                        ResponseError::InvalidRecord.code(),
                        Some(msg),
                    ));
                    continue;
                }
            }
            let last_seq = last_sequence(first_seq, count);
            let mut writer = partition.writer.lock().await;
            let now = now_ms();
            let outcome = match writer.check(pid, epoch, first_seq, last_seq) {
                // Kafka checks the ISR before the sequence: only a retry of a batch the log
                // has (a duplicate) is answered whatever the ISR.
                SequenceCheck::Accept
                | SequenceCheck::OutOfOrderSequence
                | SequenceCheck::InvalidProducerEpoch
                | SequenceCheck::UnknownProducerId
                    if too_few_replicas =>
                {
                    Err((
                        ResponseError::NotEnoughReplicas.code(),
                        Some(format!(
                            "{isr_size} in-sync replicas, min.insync.replicas is {min_isr}"
                        )),
                    ))
                }
                SequenceCheck::Accept => {
                    let mut data = BytesMut::from(&records[..]);
                    if log_append_time {
                        set_log_append_time(&mut data, now);
                    }
                    match broker.start_append(&partition, data, now).await {
                        Ok(Appending::Local {
                            base_offset,
                            end_offset,
                        }) => {
                            writer.record(
                                pid,
                                epoch,
                                first_seq,
                                last_seq,
                                base_offset,
                                end_offset - 1,
                            );
                            Ok((
                                base_offset,
                                Some(Appending::Local {
                                    base_offset,
                                    end_offset,
                                }),
                            ))
                        }
                        Ok(replicated) => {
                            // Offsets are known once committed; the sequence is taken now.
                            writer.record(pid, epoch, first_seq, last_seq, -1, -1);
                            Ok((-1, Some(replicated)))
                        }
                        Err(e) => {
                            tracing::warn!(topic = %topic.name, partition = pd.index, "append failed: {e}");
                            Err((append_error_code(&e), Some(e.to_string())))
                        }
                    }
                }
                SequenceCheck::Duplicate { base_offset, .. } if base_offset < 0 => Err((
                    ResponseError::RequestTimedOut.code(),
                    Some("the original of this retried batch is still being replicated".into()),
                )),
                SequenceCheck::Duplicate { base_offset, .. } => Ok((base_offset, None)),
                SequenceCheck::InvalidProducerEpoch => {
                    Err((ResponseError::InvalidProducerEpoch.code(), None))
                }
                SequenceCheck::OutOfOrderSequence => Err((
                    ResponseError::OutOfOrderSequenceNumber.code(),
                    Some(format!(
                        "sequence {first_seq} of producer {pid} does not follow the last one"
                    )),
                )),
                SequenceCheck::UnknownProducerId => {
                    Err((ResponseError::UnknownProducerId.code(), None))
                }
            };
            drop(writer);
            match outcome {
                Ok((base_offset, appending)) => {
                    tr.partition_responses.push(
                        PartitionProduceResponse::default()
                            .with_index(pd.index)
                            .with_base_offset(base_offset)
                            .with_log_append_time_ms(if log_append_time { now } else { -1 })
                            .with_log_start_offset(partition.log.log_start_offset()),
                    );
                    pending.push(Pending {
                        topic: ti,
                        partition: pi,
                        log: partition,
                        appending,
                        producer: (pid >= 0).then_some((pid, first_seq)),
                    });
                }
                Err((code, msg)) => tr
                    .partition_responses
                    .push(error_partition(pd.index, code, msg)),
            }
        }
        response.responses.push(tr);
    }
    let timeout = std::time::Duration::from_millis(timeout_ms.max(1) as u64);
    if acks == 0 {
        // No answer, but the data must still become durable and visible.
        let broker = broker.clone();
        tokio::spawn(async move {
            for mut p in pending {
                if let Err(e) = finish_owned(&broker, &mut p, timeout).await {
                    tracing::warn!(topic = %p.log.topic, partition = p.log.index, "acks=0 append failed: {e}");
                }
            }
        });
        return Reply::None;
    }
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        // Start every wait at once (partitions replicate in parallel), answer when all end.
        let results = futures::future::join_all(
            pending
                .iter_mut()
                .map(|p| finish_owned(&broker, p, timeout)),
        )
        .await;
        for (p, r) in pending.iter().zip(results) {
            let pr = &mut response.responses[p.topic].partition_responses[p.partition];
            match r {
                Ok(Some(base)) => pr.base_offset = base,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(topic = %p.log.topic, partition = p.log.index, "produce not acknowledged: {e}");
                    pr.error_code = outcome_error_code(&e);
                    pr.error_message = Some(str_bytes(e.to_string()));
                    pr.base_offset = -1;
                }
            }
        }
        ResponseKind::Produce(response)
    }))
}

/// Kafka's error code for a batch that is already in the log (replicated: in the leader's
/// Raft log) but whose outcome is not known: it may still be committed by this or the next
/// leader, so the answer must say "possibly persisted" (REQUEST_TIMED_OUT; the client retries
/// with the same producer id, epoch and sequence, which the leader's rebuilt producer state
/// recognises), never NOT_LEADER_OR_FOLLOWER ("not persisted").
fn outcome_error_code(e: &AppendError) -> i16 {
    match e {
        AppendError::Storage(e) => storage_error_code(e),
        AppendError::NotLeader | AppendError::Timeout | AppendError::Replication(_) => {
            ResponseError::RequestTimedOut.code()
        }
    }
}

/// Kafka's error code for an append that did not start (nothing is in the log).
fn append_error_code(e: &AppendError) -> i16 {
    match e {
        AppendError::Storage(e) => storage_error_code(e),
        AppendError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        AppendError::Timeout => ResponseError::RequestTimedOut.code(),
        AppendError::Replication(_) => ResponseError::NotLeaderOrFollower.code(),
    }
}

/// Waits for one pending append; returns the committed base offset when it was not known.
async fn finish_owned(
    broker: &Arc<Broker>,
    p: &mut Pending,
    timeout: std::time::Duration,
) -> Result<Option<i64>, AppendError> {
    let Some(appending) = p.appending.take() else {
        return Ok(None);
    };
    if let Appending::Replicated { .. } = appending {
        // The commit may outlive this request's timeout: whenever it lands, the producer
        // state learns the batch's offsets (a retry is then answered as a duplicate).
        let b = broker.clone();
        let partition = p.log.clone();
        let producer = p.producer;
        let never = std::time::Duration::from_secs(365 * 24 * 3600);
        let commit = tokio::spawn(async move {
            let (base, end) = b.finish_append(&partition, appending, never).await?;
            if let Some((pid, first_seq)) = producer {
                partition
                    .writer
                    .lock()
                    .await
                    .set_offsets(pid, first_seq, base, end - 1);
            }
            Ok::<i64, AppendError>(base)
        });
        return match tokio::time::timeout(timeout, commit).await {
            Ok(Ok(r)) => r.map(Some),
            Ok(Err(e)) => Err(AppendError::Replication(e.to_string())),
            Err(_) => Err(AppendError::Timeout),
        };
    }
    broker.finish_append(&p.log, appending, timeout).await?;
    Ok(None)
}
