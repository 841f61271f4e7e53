//! Log compaction (Kafka's log cleaner, KIP-58/KIP-354/KIP-534): record parsing, the
//! per-batch filter that keeps the latest record per key, the cleaner checkpoint and the
//! `.cleaned` -> `.swap` -> final file renames that make a rewrite crash-safe.
//!
//! A rewritten batch keeps its base offset, last offset delta, producer id/epoch, base
//! sequence, leader epoch, attributes and compression (as Kafka's `overrideLastOffset`), so
//! offsets and producer sequence numbers never move; only records disappear. Surviving
//! records are copied byte-for-byte, except that their timestamp delta is re-based when the
//! batch gains a delete horizon.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy, Zstd};
use riffle_protocol::batch::{RecordBatchView, BATCH_HEADER_BYTES};

use crate::checkpoint::{self, io_err, CLEANER_CHECKPOINT_FILE};
use crate::segment::{file_name, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::Result;

/// Suffix of a cleaned segment file being written (rolled back on open).
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment file committed for swapping (rolled forward on open).
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// Upper bound on the key bytes held in the cleaner's key -> offset map: a pass whose dirty
/// section has more stops at the segment where the map filled (Kafka's dedupe buffer).
pub(crate) const OFFSET_MAP_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Attribute bit: the batch's base timestamp is its delete horizon (KIP-534).
const DELETE_HORIZON_FLAG: i16 = 1 << 6;
const COMPRESSION_MASK: i16 = 0x07;
const LOG_APPEND_TIME_FLAG: i16 = 1 << 3;
const TRANSACTIONAL_FLAG: i16 = 1 << 4;
const CONTROL_FLAG: i16 = 1 << 5;

/// What one `PartitionLog::compact` call did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompactionOutcome {
    /// Whether a cleaning pass ran (false: not eligible, nothing to do, or raced a
    /// truncation/retention and was abandoned).
    pub cleaned: bool,
    /// Dirty ratio before the pass (dirty bytes / bytes in cleanable closed segments).
    pub dirty_ratio: f64,
    /// Segments rewritten and swapped in.
    pub segments_rewritten: usize,
    /// Records dropped (superseded values, expired tombstones, keyless records).
    pub records_removed: u64,
    /// Bytes of the cleaned range before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The cleaner checkpoint after the pass: everything below it is clean.
    pub first_dirty_offset: i64,
}

/// The persisted cleaner state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanerCheckpoint {
    pub first_dirty_offset: i64,
    /// Smallest delete horizon of a retained tombstone in the clean section; -1 if none.
    pub delete_horizon_min_ms: i64,
}

impl CleanerCheckpoint {
    /// Missing or unreadable: start from the beginning (cleaning is idempotent).
    pub(crate) fn load(dir: &Path) -> CleanerCheckpoint {
        match checkpoint::read(dir, CLEANER_CHECKPOINT_FILE, 2) {
            Ok(Some(e)) if e.len() == 1 => CleanerCheckpoint {
                first_dirty_offset: e[0][0],
                delete_horizon_min_ms: e[0][1],
            },
            Ok(_) => CleanerCheckpoint::default(),
            Err(err) => {
                tracing::warn!(error = %err, "unreadable cleaner checkpoint; cleaning from the start");
                CleanerCheckpoint::default()
            }
        }
    }
    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        checkpoint::write(
            dir,
            CLEANER_CHECKPOINT_FILE,
            &[vec![self.first_dirty_offset, self.delete_horizon_min_ms]],
        )
    }
}

impl Default for CleanerCheckpoint {
    fn default() -> Self {
        CleanerCheckpoint {
            first_dirty_offset: 0,
            delete_horizon_min_ms: -1,
        }
    }
}

/// One record of a batch: where its bytes are in the decompressed records section and what
/// the cleaner needs to know about it.
pub(crate) struct RecordRef {
    /// The whole record, length prefix included.
    pub start: usize,
    pub end: usize,
    /// Where the body after the timestamp delta starts (offset delta onwards).
    pub after_ts_delta: usize,
    pub attributes: u8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<(usize, usize)>,
    pub is_tombstone: bool,
}

/// Decoding failures of a record section (from disk: never a panic).
#[derive(Debug)]
pub(crate) struct RecordError(pub String);

fn varlong(buf: &[u8], pos: &mut usize) -> Result<i64, RecordError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| RecordError("varint runs past the end".into()))?;
        *pos += 1;
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(RecordError("varint longer than 10 bytes".into()))
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<i32, RecordError> {
    i32::try_from(varlong(buf, pos)?).map_err(|_| RecordError("varint out of i32 range".into()))
}

pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Skips a length-prefixed (varint, -1 = null) field; returns its range if not null.
fn field(buf: &[u8], pos: &mut usize, end: usize) -> Result<Option<(usize, usize)>, RecordError> {
    let len = varint(buf, pos)?;
    if len < 0 {
        return Ok(None);
    }
    let start = *pos;
    let stop = start
        .checked_add(len as usize)
        .filter(|&s| s <= end)
        .ok_or_else(|| RecordError("field runs past its record".into()))?;
    *pos = stop;
    Ok(Some((start, stop)))
}

/// Parses exactly `count` records from a decompressed records section.
pub(crate) fn parse_records(buf: &[u8], count: i32) -> Result<Vec<RecordRef>, RecordError> {
    let mut out = Vec::with_capacity((count.max(0) as usize).min(buf.len() / 7 + 1));
    let mut pos = 0usize;
    for _ in 0..count.max(0) {
        let start = pos;
        let len = varint(buf, &mut pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| RecordError("record runs past the records section".into()))?;
        let attributes = *buf
            .get(pos)
            .filter(|_| pos < end)
            .ok_or_else(|| RecordError("empty record".into()))?;
        pos += 1;
        let timestamp_delta = varlong(buf, &mut pos)?;
        let after_ts_delta = pos;
        let offset_delta = varint(buf, &mut pos)?;
        let key = field(buf, &mut pos, end)?;
        let value = field(buf, &mut pos, end)?;
        if pos > end {
            return Err(RecordError("record fields run past its length".into()));
        }
        out.push(RecordRef {
            start,
            end,
            after_ts_delta,
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            is_tombstone: value.is_none(),
        });
        pos = end;
    }
    if pos != buf.len() {
        return Err(RecordError(format!(
            "{} bytes after the last record",
            buf.len() - pos
        )));
    }
    Ok(out)
}

fn decompress(codec: i16, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut src = Bytes::copy_from_slice(data);
    let take = |b: &mut Bytes| Ok(b.copy_to_bytes(b.remaining()).to_vec());
    let r = match codec {
        0 => return Ok(data.to_vec()),
        1 => <Gzip as Decompressor<Bytes>>::decompress(&mut src, take),
        2 => <Snappy as Decompressor<Bytes>>::decompress(&mut src, take),
        3 => <Lz4 as Decompressor<Bytes>>::decompress(&mut src, take),
        4 => <Zstd as Decompressor<Bytes>>::decompress(&mut src, take),
        other => return Err(RecordError(format!("unknown compression codec {other}"))),
    };
    r.map_err(|e| RecordError(format!("decompression failed: {e}")))
}

fn compress(codec: i16, data: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    let put = |b: &mut BytesMut| {
        b.extend_from_slice(data);
        Ok(())
    };
    let r = match codec {
        0 => {
            out.extend_from_slice(data);
            return Ok(());
        }
        1 => <Gzip as Compressor<BytesMut>>::compress(out, put),
        2 => <Snappy as Compressor<BytesMut>>::compress(out, put),
        3 => <Lz4 as Compressor<BytesMut>>::compress(out, put),
        4 => <Zstd as Compressor<BytesMut>>::compress(out, put),
        other => return Err(RecordError(format!("unknown compression codec {other}"))),
    };
    r.map_err(|e| RecordError(format!("compression failed: {e}")))
}

/// A batch decoded for the cleaner.
pub(crate) struct DecodedBatch {
    pub records_section: Vec<u8>,
    pub records: Vec<RecordRef>,
}

/// Whether the cleaner leaves this batch alone: control and transactional batches (Riffle
/// has no transactions; they are kept whole).
pub(crate) fn is_untouchable(view: &RecordBatchView<'_>) -> bool {
    view.attributes() & (TRANSACTIONAL_FLAG | CONTROL_FLAG) != 0
}

pub(crate) fn decode(view: &RecordBatchView<'_>) -> Result<DecodedBatch, RecordError> {
    let codec = view.attributes() & COMPRESSION_MASK;
    let records_section = decompress(codec, view.records_bytes())?;
    let records = parse_records(&records_section, view.record_count())?;
    Ok(DecodedBatch {
        records_section,
        records,
    })
}

/// Adds every keyed record of the batch to the key -> latest offset map; returns key bytes
/// added.
pub(crate) fn add_to_map(
    view: &RecordBatchView<'_>,
    d: &DecodedBatch,
    map: &mut HashMap<Vec<u8>, i64>,
) -> usize {
    let mut added = 0;
    for r in &d.records {
        if let Some((ks, ke)) = r.key {
            let offset = view.base_offset() + i64::from(r.offset_delta);
            let key = &d.records_section[ks..ke];
            match map.get_mut(key) {
                Some(o) => *o = (*o).max(offset),
                None => {
                    added += key.len();
                    map.insert(key.to_vec(), offset);
                }
            }
        }
    }
    added
}

/// What filtering did to one batch.
pub(crate) enum Filtered {
    /// Keep the stored bytes as they are.
    Unchanged,
    /// Drop the whole batch.
    Dropped,
    /// Replace it with these bytes (same base offset and last offset).
    Rewritten(Vec<u8>),
}

pub(crate) struct FilterResult {
    pub filtered: Filtered,
    pub records_removed: u64,
    /// Delete horizon of the kept batch if it still holds a tombstone.
    pub tombstone_horizon_ms: Option<i64>,
}

/// The cleaner's decision for one batch (Kafka's `shouldRetainRecord`): a record survives
/// if it has a key and no later offset in the map has that key; a tombstone additionally
/// only until its batch's delete horizon has passed. A batch that keeps tombstones but has
/// no delete horizon gets one (`now_ms + delete_retention_ms`, KIP-534). A batch left empty
/// is dropped unless it is its producer's last batch in the log (`keep_if_empty`), which is
/// kept as a header with no records so the producer's last sequence survives.
pub(crate) fn filter_batch(
    view: &RecordBatchView<'_>,
    d: &DecodedBatch,
    map: &HashMap<Vec<u8>, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
    keep_if_empty: bool,
) -> FilterResult {
    let attributes = view.attributes();
    let has_horizon = attributes & DELETE_HORIZON_FLAG != 0;
    let horizon = has_horizon.then(|| view.base_timestamp());
    let mut kept: Vec<&RecordRef> = Vec::with_capacity(d.records.len());
    for r in &d.records {
        let Some((ks, ke)) = r.key else {
            continue; // Kafka: a compacted topic's record without a key is invalid; dropped
        };
        let offset = view.base_offset() + i64::from(r.offset_delta);
        let superseded = map
            .get(&d.records_section[ks..ke])
            .is_some_and(|&latest| latest > offset);
        if superseded {
            continue;
        }
        if r.is_tombstone && horizon.is_some_and(|h| now_ms >= h) {
            continue;
        }
        kept.push(r);
    }
    let removed = (d.records.len() - kept.len()) as u64;
    let has_tombstone = kept.iter().any(|r| r.is_tombstone);
    let new_horizon = if has_tombstone && !has_horizon {
        Some(now_ms.saturating_add(delete_retention_ms.max(0)))
    } else {
        None
    };
    let tombstone_horizon_ms = if has_tombstone {
        new_horizon.or(horizon)
    } else {
        None
    };
    if removed == 0 && new_horizon.is_none() {
        return FilterResult {
            filtered: Filtered::Unchanged,
            records_removed: 0,
            tombstone_horizon_ms,
        };
    }
    if kept.is_empty() && !keep_if_empty {
        return FilterResult {
            filtered: Filtered::Dropped,
            records_removed: removed,
            tombstone_horizon_ms: None,
        };
    }
    match rebuild(view, d, &kept, new_horizon) {
        Ok(bytes) => FilterResult {
            filtered: Filtered::Rewritten(bytes),
            records_removed: removed,
            tombstone_horizon_ms,
        },
        Err(e) => {
            tracing::warn!(base_offset = view.base_offset(), error = %e.0, "cannot re-encode batch; keeping it whole");
            FilterResult {
                filtered: Filtered::Unchanged,
                records_removed: 0,
                tombstone_horizon_ms: horizon,
            }
        }
    }
}

/// Re-encodes a batch with only `kept` records, keeping every header field but the length,
/// CRC, record count, max timestamp (create time: recomputed over the kept records), and,
/// with a new delete horizon, the attributes and base timestamp.
fn rebuild(
    view: &RecordBatchView<'_>,
    d: &DecodedBatch,
    kept: &[&RecordRef],
    new_horizon: Option<i64>,
) -> Result<Vec<u8>, RecordError> {
    let old_base_ts = view.base_timestamp();
    let mut attributes = view.attributes();
    let mut base_ts = old_base_ts;
    if let Some(h) = new_horizon {
        attributes |= DELETE_HORIZON_FLAG;
        base_ts = h;
    }
    let mut codec = attributes & COMPRESSION_MASK;
    if kept.is_empty() {
        attributes &= !COMPRESSION_MASK; // Kafka writes empty batches uncompressed
        codec = 0;
    }
    let mut plain = Vec::with_capacity(d.records_section.len());
    let mut max_ts = i64::MIN;
    for r in kept {
        let ts = old_base_ts.wrapping_add(r.timestamp_delta);
        max_ts = max_ts.max(ts);
        if base_ts == old_base_ts {
            plain.extend_from_slice(&d.records_section[r.start..r.end]);
        } else {
            let mut body = vec![r.attributes];
            put_varlong(&mut body, ts.wrapping_sub(base_ts));
            body.extend_from_slice(&d.records_section[r.after_ts_delta..r.end]);
            put_varlong(&mut plain, body.len() as i64);
            plain.extend_from_slice(&body);
        }
    }
    let max_timestamp = if attributes & LOG_APPEND_TIME_FLAG != 0 || kept.is_empty() {
        view.max_timestamp()
    } else {
        max_ts
    };
    let mut records = BytesMut::new();
    compress(codec, &plain, &mut records)?;
    let mut out = view.as_bytes()[..BATCH_HEADER_BYTES].to_vec();
    let total = BATCH_HEADER_BYTES + records.len();
    let batch_length =
        i32::try_from(total - 12).map_err(|_| RecordError("batch too large".into()))?;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[27..35].copy_from_slice(&base_ts.to_be_bytes());
    out[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    out[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    out.extend_from_slice(&records);
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// `<base>.<suffix><state>` for the three files of a segment.
pub(crate) fn staged_paths(dir: &Path, base: i64, state: &str) -> [std::path::PathBuf; 3] {
    [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX]
        .map(|s| dir.join(format!("{}{state}", file_name(base, s))))
}

/// Renames `<file><from>` to `<file><to>` for a segment's three files: the indexes first,
/// the `.log` last (the `.log` rename is the step that counts). Missing indexes are skipped
/// (an earlier attempt moved them already). The caller syncs the directory.
pub(crate) fn rename_stage(dir: &Path, base: i64, from: &str, to: &str) -> Result<()> {
    let src = staged_paths(dir, base, from);
    let dst = staged_paths(dir, base, to);
    for (i, (s, d)) in src.iter().zip(dst.iter()).enumerate() {
        match fs::rename(s, d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && i < 2 => {}
            Err(e) => return Err(io_err(s, e)),
        }
    }
    Ok(())
}

/// Removes the staged files of a segment (missing ones are fine).
pub(crate) fn remove_stage(dir: &Path, base: i64, state: &str) -> Result<()> {
    for p in staged_paths(dir, base, state) {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p, e)),
        }
    }
    Ok(())
}

/// Open-time recovery of an interrupted cleaner: a `<base>.log.swap` was committed, so its
/// swap is finished (indexes, then the log, renamed over the old files); every other
/// `.swap` and every `.cleaned` file is rolled back (removed). Returns whether anything was
/// done (the caller then syncs the directory).
pub(crate) fn recover_swaps(dir: &Path) -> Result<bool> {
    let mut swaps = Vec::new();
    let mut strays = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            if let Some(base) = crate::segment::parse_file_name(stem, LOG_SUFFIX) {
                swaps.push(base);
                continue;
            }
            strays.push(entry.path());
        } else if name.ends_with(CLEANED_SUFFIX) {
            strays.push(entry.path());
        }
    }
    swaps.sort_unstable();
    for &base in &swaps {
        tracing::info!(base, "completing an interrupted cleaner swap");
        rename_stage(dir, base, SWAP_SUFFIX, "")?;
    }
    for p in &strays {
        // Index `.swap` files of a completed swap were renamed above; the rest roll back.
        if p.exists() {
            tracing::info!(file = %p.display(), "removing an unfinished cleaner file");
            fs::remove_file(p).map_err(|e| io_err(p, e))?;
        }
    }
    Ok(!swaps.is_empty() || !strays.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varlong_round_trips_zigzag_values() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            let mut pos = 0;
            assert_eq!(varlong(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
    }

    #[test]
    fn parse_records_rejects_truncated_and_trailing_bytes_without_panicking() {
        let mut rec = Vec::new();
        let mut body = vec![0u8];
        put_varlong(&mut body, 5); // ts delta
        put_varlong(&mut body, 0); // offset delta
        put_varlong(&mut body, 1); // key len
        body.push(b'k');
        put_varlong(&mut body, -1); // null value
        put_varlong(&mut body, 0); // headers
        put_varlong(&mut rec, body.len() as i64);
        rec.extend_from_slice(&body);
        let parsed = parse_records(&rec, 1).unwrap();
        assert!(parsed[0].is_tombstone);
        assert_eq!(parsed[0].timestamp_delta, 5);
        for cut in 0..rec.len() {
            assert!(parse_records(&rec[..cut], 1).is_err());
        }
        let mut extra = rec.clone();
        extra.push(0);
        assert!(parse_records(&extra, 1).is_err());
        assert!(parse_records(&[0xff; 20], 3).is_err());
    }
}
