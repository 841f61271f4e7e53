//! Reading the records of Riffle's internal topics (`__consumer_offsets`, `_schemas`): the
//! batch walk both the group coordinator and the schema registry fold on start.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use riffle_protocol::batch::RecordBatchView;

/// One record of an internal topic: its key (None = a keyless record, which internal topics
/// never write) and value (None = a tombstone).
pub type KeyedRecord = (Option<Bytes>, Option<Bytes>);

/// Walks whole v2 batches as the log returns them: every record of every non-control batch,
/// in order, the offset after the last batch, and one message per problem (a batch that does
/// not parse stops the walk; one whose records do not decode is skipped).
pub fn decode_keyed_batches(bytes: &Bytes) -> (Vec<KeyedRecord>, Option<i64>, Vec<String>) {
    let mut records = vec![];
    let mut errors = vec![];
    let mut next = None;
    let mut pos = 0usize;
    while pos < bytes.len() {
        let size = match RecordBatchView::peek_size(&bytes[pos..]) {
            Ok(s) if pos + s <= bytes.len() => s,
            Ok(_) => {
                errors.push("record batch truncated".to_string());
                break;
            }
            Err(e) => {
                errors.push(e.to_string());
                break;
            }
        };
        let view = match RecordBatchView::parse(&bytes[pos..pos + size]) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e.to_string());
                break;
            }
        };
        next = Some(view.last_offset() + 1);
        let control = view.is_control();
        let mut batch = bytes.slice(pos..pos + size);
        pos += size;
        if control {
            continue;
        }
        match RecordBatchDecoder::decode(&mut batch) {
            Ok(set) => records.extend(set.records.into_iter().map(|r| (r.key, r.value))),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (records, next, errors)
}
