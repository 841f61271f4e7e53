//! Hand-written codec for Produce v0–2 (request and response), which `kafka-protocol` 0.18 does
//! not implement. Riffle advertises these versions (as Kafka 4 does) and answers them with
//! UNSUPPORTED_VERSION, so it must still parse the request and write a response.
//!
//! Request v0–2: acks i16, timeout_ms i32, [topic name string, [partition i32, records bytes]].
//! Response v0: [topic name, [partition i32, error_code i16, base_offset i64]];
//! v1 adds throttle_time_ms i32 at the end; v2 adds log_append_time_ms i64 after base_offset.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

type Result<T> = std::result::Result<T, String>;

fn need(buf: &Bytes, n: usize, what: &str) -> Result<()> {
    if buf.remaining() < n {
        return Err(format!(
            "truncated {what}: need {n} bytes, have {}",
            buf.remaining()
        ));
    }
    Ok(())
}
fn get_i16(buf: &mut Bytes, what: &str) -> Result<i16> {
    need(buf, 2, what)?;
    Ok(buf.get_i16())
}
fn get_i32(buf: &mut Bytes, what: &str) -> Result<i32> {
    need(buf, 4, what)?;
    Ok(buf.get_i32())
}
fn get_i64(buf: &mut Bytes, what: &str) -> Result<i64> {
    need(buf, 8, what)?;
    Ok(buf.get_i64())
}
/// Reads an array length; each element takes at least one byte, so a count above the bytes
/// left is malformed (this also bounds the allocation).
fn get_array_len(buf: &mut Bytes, what: &str) -> Result<usize> {
    let n = get_i32(buf, what)?;
    if n < 0 {
        return Err(format!("{what} array length {n} is negative"));
    }
    let n = n as usize;
    if n > buf.remaining() {
        return Err(format!(
            "{what} array length {n} exceeds the {} bytes left",
            buf.remaining()
        ));
    }
    Ok(n)
}
fn get_string(buf: &mut Bytes, what: &str) -> Result<StrBytes> {
    let n = get_i16(buf, what)?;
    if n < 0 {
        return Err(format!("{what} string length {n} is negative"));
    }
    need(buf, n as usize, what)?;
    StrBytes::try_from(buf.split_to(n as usize)).map_err(|e| format!("{what} is not UTF-8: {e}"))
}
fn get_nullable_bytes(buf: &mut Bytes, what: &str) -> Result<Option<Bytes>> {
    match get_i32(buf, what)? {
        -1 => Ok(None),
        n if n < 0 => Err(format!("{what} length {n} is negative")),
        n => {
            need(buf, n as usize, what)?;
            Ok(Some(buf.split_to(n as usize)))
        }
    }
}
fn put_string(out: &mut BytesMut, s: &str, what: &str) -> Result<()> {
    let n = i16::try_from(s.len()).map_err(|_| format!("{what} is longer than i16::MAX"))?;
    out.put_i16(n);
    out.put_slice(s.as_bytes());
    Ok(())
}
fn put_array_len(out: &mut BytesMut, n: usize, what: &str) -> Result<()> {
    let n = i32::try_from(n).map_err(|_| format!("{what} has more than i32::MAX entries"))?;
    out.put_i32(n);
    Ok(())
}
fn check_version(version: i16) -> Result<()> {
    if !(0..=2).contains(&version) {
        return Err(format!("produce v{version} is not a legacy (v0-2) version"));
    }
    Ok(())
}

/// Parses a Produce v0–2 request body.
pub(crate) fn decode_produce_v0_to_v2(buf: &mut Bytes) -> Result<ProduceRequest> {
    let mut req = ProduceRequest::default();
    req.acks = get_i16(buf, "acks")?;
    req.timeout_ms = get_i32(buf, "timeout_ms")?;
    let topics = get_array_len(buf, "topic_data")?;
    req.topic_data = Vec::with_capacity(topics);
    for _ in 0..topics {
        let mut topic = TopicProduceData::default();
        topic.name = TopicName(get_string(buf, "topic name")?);
        let partitions = get_array_len(buf, "partition_data")?;
        topic.partition_data = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            let mut p = PartitionProduceData::default();
            p.index = get_i32(buf, "partition index")?;
            p.records = get_nullable_bytes(buf, "records")?;
            topic.partition_data.push(p);
        }
        req.topic_data.push(topic);
    }
    Ok(req)
}

/// Writes a Produce v0–2 request body (the version does not change the request layout).
pub(crate) fn encode_produce_request_v0_to_v2(
    req: &ProduceRequest,
    out: &mut BytesMut,
) -> Result<()> {
    if req.transactional_id.is_some() {
        return Err("transactional_id needs produce v3+".to_string());
    }
    if !req.unknown_tagged_fields.is_empty() {
        return Err("tagged fields need a flexible version".to_string());
    }
    out.put_i16(req.acks);
    out.put_i32(req.timeout_ms);
    put_array_len(out, req.topic_data.len(), "topic_data")?;
    for topic in &req.topic_data {
        if !topic.topic_id.is_nil() {
            return Err("topic_id needs produce v13".to_string());
        }
        put_string(out, &topic.name.0, "topic name")?;
        put_array_len(out, topic.partition_data.len(), "partition_data")?;
        for p in &topic.partition_data {
            out.put_i32(p.index);
            match &p.records {
                None => out.put_i32(-1),
                Some(r) => {
                    let n = i32::try_from(r.len())
                        .map_err(|_| "records longer than i32::MAX".to_string())?;
                    out.put_i32(n);
                    out.put_slice(r);
                }
            }
        }
    }
    Ok(())
}

/// Writes a Produce v0–2 response body. Fields that do not exist in these versions
/// (log_start_offset, record_errors, error_message, current_leader, node_endpoints) are dropped.
pub(crate) fn encode_produce_response_v0_to_v2(
    resp: &ProduceResponse,
    version: i16,
    out: &mut BytesMut,
) -> Result<()> {
    check_version(version)?;
    put_array_len(out, resp.responses.len(), "responses")?;
    for topic in &resp.responses {
        put_string(out, &topic.name.0, "topic name")?;
        put_array_len(out, topic.partition_responses.len(), "partition_responses")?;
        for p in &topic.partition_responses {
            out.put_i32(p.index);
            out.put_i16(p.error_code);
            out.put_i64(p.base_offset);
            if version >= 2 {
                out.put_i64(p.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(resp.throttle_time_ms);
    }
    Ok(())
}

/// Parses a Produce v0–2 response body.
pub(crate) fn decode_produce_response_v0_to_v2(
    buf: &mut Bytes,
    version: i16,
) -> Result<ProduceResponse> {
    check_version(version)?;
    let mut resp = ProduceResponse::default();
    let topics = get_array_len(buf, "responses")?;
    resp.responses = Vec::with_capacity(topics);
    for _ in 0..topics {
        let mut topic = TopicProduceResponse::default();
        topic.name = TopicName(get_string(buf, "topic name")?);
        let partitions = get_array_len(buf, "partition_responses")?;
        topic.partition_responses = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            let mut p = PartitionProduceResponse::default();
            p.index = get_i32(buf, "partition index")?;
            p.error_code = get_i16(buf, "error_code")?;
            p.base_offset = get_i64(buf, "base_offset")?;
            if version >= 2 {
                p.log_append_time_ms = get_i64(buf, "log_append_time_ms")?;
            }
            topic.partition_responses.push(p);
        }
        resp.responses.push(topic);
    }
    if version >= 1 {
        resp.throttle_time_ms = get_i32(buf, "throttle_time_ms")?;
    }
    Ok(resp)
}
