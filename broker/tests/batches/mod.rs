//! Record batches for broker tests, as a client sends them: v2, uncompressed.

use bytes::{Bytes, BytesMut};
use riffle_broker::state::now_ms;
use riffle_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A record at `offset` (relative to the batch), not idempotent, stamped now.
pub fn record(offset: i64, key: Option<Bytes>, value: Bytes) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: now_ms(),
        key,
        value: Some(value),
        headers: Default::default(),
    }
}

/// One batch holding `records`.
pub fn encode(records: &[Record]) -> BytesMut {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encoding a test batch");
    buf
}
