//! Reading and writing records for the admin CLI: Produce and Fetch against partition leaders,
//! Kafka's default (murmur2) partitioner, and the JSON-lines export format.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use indexmap_like::Headers;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, ListOffsetsRequest, ProduceRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use super::client::{check, topic_name, AdminError, Cluster};

mod indexmap_like {
    /// Record headers in order, as kafka-protocol keeps them.
    pub type Headers = Vec<(String, Option<bytes::Bytes>)>;
}

/// ListOffsets timestamp meaning "the log end offset".
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp meaning "the log start offset".
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// How many bytes one Fetch asks for per partition.
pub const FETCH_PARTITION_BYTES_MAX: i32 = 4 * 1024 * 1024;
/// How many records one Produce request carries at most when importing.
pub const PRODUCE_BATCH_RECORDS_MAX: usize = 500;
/// How many payload bytes one Produce request carries at most when importing.
pub const PRODUCE_BATCH_BYTES_MAX: usize = 512 * 1024;

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Headers,
    /// Create time in ms since the epoch (`None`: now).
    pub timestamp_ms: Option<i64>,
}

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Headers,
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), used by the default partitioner.
pub fn murmur2(data: &[u8]) -> i32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Encodes `records` as one uncompressed v2 batch (no producer id).
pub fn encode_batch(records: &[OutRecord]) -> Result<Bytes, AdminError> {
    let now = now_ms();
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch unless `offset - sequence` is constant; the
            // first record's -1 becomes the batch's base sequence (none: no producer id).
            sequence: i as i32 - 1,
            timestamp: r.timestamp_ms.unwrap_or(now),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| AdminError::Usage(format!("cannot encode the records: {e:#}")))?;
    Ok(buf.freeze())
}

/// Produces `records` to topic-partition with acks=all, retrying on a stale leader. Returns
/// the base offset.
pub async fn produce(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    records: &[OutRecord],
) -> Result<i64, AdminError> {
    let batch = encode_batch(records)?;
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    cluster
        .send_to_leader(topic, partition, req, 3, 9, |broker, resp| {
            let p = resp
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition)
                .ok_or_else(|| no_answer(broker, ApiKey::Produce, topic, partition))?;
            check(
                broker,
                ApiKey::Produce,
                format!("to {topic}-{partition}"),
                p.error_code,
                p.error_message.as_ref(),
            )?;
            Ok(p.base_offset)
        })
        .await
}

/// The error for a response that lacks the partition asked about.
fn no_answer(broker: &str, api: ApiKey, topic: &str, partition: i32) -> AdminError {
    AdminError::Protocol {
        broker: broker.to_string(),
        api: format!("{api:?}"),
        reason: format!("no answer for {topic}-{partition}"),
    }
}

/// ListOffsets for each partition of `topic` at `timestamp` (-1 latest, -2 earliest), asked
/// of each partition's leader. Returns `(partition, offset)` in partition order.
pub async fn list_offsets(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<Vec<(i32, i64)>, AdminError> {
    let mut out = Vec::with_capacity(partitions.len());
    for &partition in partitions {
        out.push((
            partition,
            list_offset(cluster, topic, partition, timestamp).await?,
        ));
    }
    Ok(out)
}

/// ListOffsets for one partition (see [`list_offsets`]).
pub async fn list_offset(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, AdminError> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])]);
    cluster
        .send_to_leader(topic, partition, req, 1, 7, |broker, resp| {
            let p = resp
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| no_answer(broker, ApiKey::ListOffsets, topic, partition))?;
            check(
                broker,
                ApiKey::ListOffsets,
                format!("for {topic}-{partition}"),
                p.error_code,
                None,
            )?;
            Ok(p.offset)
        })
        .await
}

/// One Fetch of topic-partition from `offset`: the data records at or after `offset` and the
/// next offset to ask for (past control batches and gaps), plus the high watermark.
pub async fn fetch_once(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> Result<(Vec<InRecord>, i64, i64), AdminError> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_PARTITION_BYTES_MAX * 2)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(FETCH_PARTITION_BYTES_MAX)])]);
    cluster
        .send_to_leader(topic, partition, req, 4, 12, |broker, resp| {
            check(
                broker,
                ApiKey::Fetch,
                format!("of {topic}"),
                resp.error_code,
                None,
            )?;
            let p = resp
                .responses
                .into_iter()
                .flat_map(|t| t.partitions.into_iter())
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| no_answer(broker, ApiKey::Fetch, topic, partition))?;
            check(
                broker,
                ApiKey::Fetch,
                format!("of {topic}-{partition} at offset {offset}"),
                p.error_code,
                None,
            )?;
            let data = p.records.unwrap_or_default();
            let (records, next) = decode_records(&data, partition, offset).map_err(|reason| {
                AdminError::Protocol {
                    broker: broker.to_string(),
                    api: "Fetch".into(),
                    reason: format!("{topic}-{partition}: {reason}"),
                }
            })?;
            Ok((records, next, p.high_watermark))
        })
        .await
}

/// Decodes whole record batches from Fetch data (a truncated last batch is ignored); returns
/// the data records at or after `from` and the offset after the last complete batch.
pub fn decode_records(
    data: &[u8],
    partition: i32,
    from: i64,
) -> Result<(Vec<InRecord>, i64), String> {
    let mut out = Vec::new();
    let mut next = from;
    let mut pos = 0usize;
    while data.len() - pos >= 12 {
        let head = &data[pos..];
        let base_offset = i64::from_be_bytes(head[0..8].try_into().map_err(|_| "short batch")?);
        let length = i32::from_be_bytes(head[8..12].try_into().map_err(|_| "short batch")?);
        let length =
            usize::try_from(length).map_err(|_| format!("negative batch length {length}"))?;
        let total = 12 + length;
        if head.len() < total {
            break;
        }
        let batch = &head[..total];
        pos += total;
        if batch.len() < 27 {
            return Err("batch shorter than its header".into());
        }
        let last_offset_delta =
            i32::from_be_bytes(batch[23..27].try_into().map_err(|_| "short batch")?);
        let mut buf = Bytes::copy_from_slice(batch);
        let set = RecordBatchDecoder::decode(&mut buf)
            .map_err(|e| format!("batch at offset {base_offset}: {e:#}"))?;
        for r in set.records {
            if r.control || r.offset < from {
                continue;
            }
            out.push(InRecord {
                partition,
                offset: r.offset,
                timestamp_ms: r.timestamp,
                log_append_time: r.timestamp_type == TimestampType::LogAppend,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
        next = next.max(base_offset + i64::from(last_offset_delta) + 1);
    }
    Ok((out, next))
}

/// The first line of an export file: what `import` needs to recreate the topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportHeader {
    pub topic: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic configs that were set explicitly on the topic.
    pub configs: std::collections::BTreeMap<String, String>,
}

/// One export line: `{"export": header}` first, then one record per line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ExportLine {
    Header { export: ExportHeader },
    Record(ExportRecord),
}

/// A record as an export line; key, value and header values are base64 (standard, padded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    #[serde(default)]
    pub timestamp_type: String,
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub headers: Vec<ExportHeaderField>,
}

/// A record header in an export line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportHeaderField {
    pub key: String,
    pub value: Option<String>,
}

fn b64(b: &Option<Bytes>) -> Option<String> {
    b.as_ref()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

fn unb64(s: &Option<String>, what: &str) -> Result<Option<Bytes>, String> {
    match s {
        None => Ok(None),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| format!("{what} is not base64: {e}")),
    }
}

impl ExportRecord {
    pub fn from_record(r: &InRecord) -> ExportRecord {
        ExportRecord {
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp_ms,
            timestamp_type: if r.log_append_time {
                "log_append".into()
            } else {
                "create".into()
            },
            key: b64(&r.key),
            value: b64(&r.value),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| ExportHeaderField {
                    key: k.clone(),
                    value: b64(v),
                })
                .collect(),
        }
    }

    pub fn to_out_record(&self) -> Result<OutRecord, String> {
        let mut headers = Vec::with_capacity(self.headers.len());
        for h in &self.headers {
            headers.push((h.key.clone(), unb64(&h.value, "a header value")?));
        }
        Ok(OutRecord {
            key: unb64(&self.key, "key")?,
            value: unb64(&self.value, "value")?,
            headers,
            timestamp_ms: Some(self.timestamp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn encoded_batch_decodes_to_the_same_records() {
        let recs = vec![
            OutRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v1")),
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"x"))),
                    ("n".into(), None),
                ],
                timestamp_ms: Some(1_700_000_000_000),
            },
            OutRecord {
                key: None,
                value: None,
                headers: vec![],
                timestamp_ms: Some(1_700_000_000_001),
            },
        ];
        let batch = encode_batch(&recs).unwrap();
        let (got, next) = decode_records(&batch, 3, 0).unwrap();
        assert_eq!(next, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].partition, 3);
        assert_eq!(got[0].headers, recs[0].headers);
        assert_eq!(got[1].offset, 1);
        assert_eq!(got[1].value, None);
        let line = ExportRecord::from_record(&got[0]);
        assert_eq!(line.to_out_record().unwrap(), recs[0]);
    }

    #[test]
    fn truncated_last_batch_is_left_for_the_next_fetch() {
        let one = encode_batch(&[OutRecord {
            key: None,
            value: Some(Bytes::from_static(b"abc")),
            headers: vec![],
            timestamp_ms: Some(1),
        }])
        .unwrap();
        let mut data = one.to_vec();
        data.extend_from_slice(&one[..one.len() - 3]);
        let (got, next) = decode_records(&data, 0, 0).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(next, 1);
    }

    #[test]
    fn garbage_fetch_data_is_an_error_not_a_panic() {
        let mut data = vec![0u8; 12];
        data[11] = 20;
        data.extend_from_slice(&[0xff; 20]);
        assert!(decode_records(&data, 0, 0).is_err());
        assert!(decode_records(&[0xff; 12], 0, 0).is_err());
    }
}
