//! Opening a partition directory: remove stray files, load trusted segments cheaply, verify
//! the CRC of every batch in segments that may hold unsynced data (the last one, anything at
//! or past the recovery point, anything with a damaged index), cut a torn or corrupt tail and
//! rebuild indexes.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use riffle_protocol::batch::RecordBatchView;

use crate::checkpoint::{self, io_err, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, TMP_SUFFIX};
use crate::epoch::LeaderEpochCache;
use crate::index::{OffsetIndex, TimeIndex};
use crate::segment::{
    self, open_log_file, scan, BatchHeader, Segment, Step, INDEX_SUFFIX, LOG_SUFFIX, NO_TIMESTAMP,
    TIME_INDEX_SUFFIX,
};
use crate::{LogConfig, Result, StorageError};

pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub log_start: i64,
    pub epochs: LeaderEpochCache,
    pub recovery_point: i64,
}

/// Suffixes of files left by an interrupted operation (ours or Kafka's); removed on open.
const STRAY_SUFFIXES: [&str; 4] = [TMP_SUFFIX, ".deleted", ".cleaned", ".swap"];

pub(crate) fn recover(dir: &Path, config: &LogConfig, now_ms: i64) -> Result<Recovered> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    // An interrupted cleaner: finish committed swaps, roll back the rest (before the strays
    // below, which would otherwise remove `.swap` files).
    if crate::compact::recover_swaps(dir)? {
        checkpoint::sync_dir(dir)?;
    }
    let mut bases = BTreeSet::new();
    let mut index_files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if STRAY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            tracing::info!(file = %name, "removing stray file");
            fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
        } else if let Some(base) = segment::parse_file_name(&name, LOG_SUFFIX) {
            bases.insert(base);
        } else if let Some(base) = segment::parse_file_name(&name, INDEX_SUFFIX)
            .or_else(|| segment::parse_file_name(&name, TIME_INDEX_SUFFIX))
        {
            index_files.push((base, entry.path()));
        }
    }
    for (base, path) in index_files {
        if !bases.contains(&base) {
            tracing::info!(file = %path.display(), "removing index without a log");
            fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
    }

    let log_start_checkpoint = checkpoint::read_single(dir, LOG_START_OFFSET_FILE)?;
    let recovery_point = match checkpoint::read_single(dir, RECOVERY_POINT_FILE) {
        Ok(rp) => rp.unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable recovery point; verifying every segment");
            0
        }
    };

    // Segments wholly below the log start (a DeleteRecords or retention that crashed before
    // unlinking them) are gone logically already.
    let mut bases: Vec<i64> = bases.into_iter().collect();
    if let Some(start) = log_start_checkpoint {
        let below = bases.windows(2).take_while(|w| w[1] <= start).count();
        for &base in &bases[..below] {
            Segment::delete_files(dir, base)?;
        }
        bases.drain(..below);
    }

    let mut segments: Vec<Segment> = Vec::new();
    let mut transitions = LeaderEpochCache::default();
    let last_listed = bases.last().copied();
    for (i, &base) in bases.iter().enumerate() {
        let is_last = i + 1 == bases.len();
        let mut loaded = None;
        if !is_last && base < recovery_point {
            match load_trusted(dir, base, now_ms) {
                Ok(seg) => loaded = Some(seg),
                Err(reason) => {
                    tracing::warn!(base, %reason, "segment index damaged; verifying and rebuilding")
                }
            }
        }
        let (seg, cut) = match loaded {
            Some(seg) => (seg, false),
            None => recover_segment(dir, base, config, !is_last, now_ms, &mut transitions)?,
        };
        if let Some(prev) = segments.last() {
            if prev.next_offset > seg.base_offset {
                return Err(StorageError::Corrupt {
                    path: seg.log_path.clone(),
                    reason: format!(
                        "segment overlaps the previous one, which ends at offset {}",
                        prev.next_offset
                    ),
                });
            }
        }
        segments.push(seg);
        if cut {
            // Nothing after a torn or corrupt batch was ever synced: drop later segments.
            for &later in bases[i + 1..].iter().rev() {
                tracing::warn!(base = later, "removing segment after a cut tail");
                Segment::delete_files(dir, later)?;
            }
            break;
        }
    }

    let start = log_start_checkpoint.unwrap_or(0);
    if segments.is_empty() {
        segments.push(Segment::create(
            dir,
            start.max(0),
            config.segment_index_bytes,
            now_ms,
        )?);
    } else if segments.last().map(|s| s.base_offset) != last_listed {
        if let Some(last) = segments.last_mut() {
            last.reopen_active(config.segment_index_bytes)?;
        }
    }
    let mut log_start = start.max(segments[0].base_offset);
    let log_end = segments.last().map_or(0, |s| s.next_offset);
    if log_start > log_end {
        // The log start was durable but the data up to it was not: everything left is below
        // the log start, so start afresh there (Kafka does the same).
        tracing::warn!(
            log_start,
            log_end,
            "log end below log start; starting empty at log start"
        );
        for seg in segments.drain(..) {
            Segment::delete_files(dir, seg.base_offset)?;
        }
        segments.push(Segment::create(
            dir,
            log_start,
            config.segment_index_bytes,
            now_ms,
        )?);
    }
    log_start = log_start.max(segments[0].base_offset);

    let mut epochs = match LeaderEpochCache::load(dir) {
        Ok(Some(c)) => c,
        Ok(None) | Err(_) => {
            tracing::info!("rebuilding the leader epoch cache from batch headers");
            let mut c = LeaderEpochCache::default();
            for seg in &segments {
                let end = scan(&seg.log, &seg.log_path, 0, seg.size, false, |_, h, _| {
                    if h.leader_epoch >= 0 {
                        c.assign(h.leader_epoch, h.base_offset);
                    }
                    Step::Continue
                })?;
                if let Some(reason) = end.corrupt {
                    return Err(seg.corrupt(end.position, reason));
                }
            }
            c
        }
    };
    for &(e, o) in transitions.entries() {
        epochs.assign(e, o);
    }
    let log_end = segments.last().map_or(0, |s| s.next_offset);
    epochs.truncate_from_end(log_end);
    epochs.truncate_from_start(log_start);
    epochs.store(dir)?;

    // Everything recovered now counts as durable: the verified segments were synced as they
    // were recovered; make the directory (creates, unlinks) durable and record the point.
    checkpoint::sync_dir(dir)?;
    let active_base = segments.last().map_or(0, |s| s.base_offset);
    checkpoint::write_single(dir, RECOVERY_POINT_FILE, active_base)?;
    Ok(Recovered {
        segments,
        log_start,
        epochs,
        recovery_point: active_base,
    })
}

/// Loads a segment below the recovery point (complete and synced when it was closed):
/// sanity-checks both indexes and walks the headers after the last offset-index entry.
/// Any inconsistency is returned as a reason to fall back to full recovery.
pub(crate) fn load_trusted(dir: &Path, base: i64, now_ms: i64) -> Result<Segment, String> {
    let (log_path, index_path, time_path) = segment::paths(dir, base);
    let log = open_log_file(&log_path, false).map_err(|e| e.to_string())?;
    let size = log.metadata().map_err(|e| e.to_string())?.len();
    let offset_index = OffsetIndex::open_checked(&index_path, base, size)?;
    let (scan_from, expect_last) = match offset_index.last() {
        Some((off, pos)) => (pos, Some(off)),
        None => (0, None),
    };
    let mut next_offset = base;
    let mut bytes_since = 0u64;
    let (mut max_ts, mut max_off) = (NO_TIMESTAMP, base);
    let mut first = true;
    let mut bad: Option<String> = None;
    let end = scan(&log, &log_path, scan_from, size, false, |_, h, _| {
        if first {
            first = false;
            if let Some(expect) = expect_last {
                if h.last_offset != expect {
                    bad = Some(format!(
                        "index entry says offset {expect}, batch ends at {}",
                        h.last_offset
                    ));
                    return Step::Stop;
                }
            } else if h.base_offset < base {
                bad = Some("first batch is below the segment base offset".into());
                return Step::Stop;
            }
        } else if h.base_offset < next_offset {
            bad = Some("offsets go backwards".into());
            return Step::Stop;
        }
        next_offset = h.last_offset + 1;
        bytes_since += h.size;
        if h.max_timestamp > max_ts {
            max_ts = h.max_timestamp;
            max_off = h.last_offset;
        }
        Step::Continue
    })
    .map_err(|e| e.to_string())?;
    if let Some(reason) = bad.or(end.corrupt) {
        return Err(reason);
    }
    if end.position != size {
        return Err(format!("scan ended at {} of {size}", end.position));
    }
    let time_index = TimeIndex::open_checked(&time_path, base, next_offset)?;
    if let Some((ts, off)) = time_index.last() {
        if ts >= max_ts {
            max_ts = ts;
            max_off = off;
        }
    }
    let first_batch_timestamp = if size > 0 {
        let mut head = [0u8; riffle_protocol::batch::BATCH_HEADER_BYTES];
        std::os::unix::fs::FileExt::read_exact_at(&log, &mut head, 0).map_err(|e| e.to_string())?;
        let h = BatchHeader::parse(&head).map_err(|e| e.to_string())?;
        if h.base_offset < base {
            return Err("first batch is below the segment base offset".into());
        }
        Some(h.max_timestamp)
    } else {
        None
    };
    Ok(Segment {
        base_offset: base,
        log_path,
        log: std::sync::Arc::new(log),
        size,
        next_offset,
        offset_index,
        time_index,
        max_timestamp: max_ts,
        offset_of_max_timestamp: max_off,
        first_batch_timestamp,
        created_ms: now_ms,
        bytes_since_index_entry: bytes_since,
    })
}

/// Verifies every batch's CRC, cuts the file at the first bad one, rebuilds both indexes and
/// syncs. Returns the segment (closed if `closed`) and whether a tail was cut.
fn recover_segment(
    dir: &Path,
    base: i64,
    config: &LogConfig,
    closed: bool,
    now_ms: i64,
    transitions: &mut LeaderEpochCache,
) -> Result<(Segment, bool)> {
    let (log_path, index_path, time_path) = segment::paths(dir, base);
    let log = open_log_file(&log_path, false)?;
    let file_bytes = log.metadata().map_err(|e| io_err(&log_path, e))?.len();
    let mut seg = Segment {
        base_offset: base,
        log_path: log_path.clone(),
        log: std::sync::Arc::new(log),
        size: 0,
        next_offset: base,
        offset_index: OffsetIndex::create(&index_path, base, config.segment_index_bytes)?,
        time_index: TimeIndex::create(&time_path, base, config.segment_index_bytes)?,
        max_timestamp: NO_TIMESTAMP,
        offset_of_max_timestamp: base,
        first_batch_timestamp: None,
        created_ms: now_ms,
        bytes_since_index_entry: 0,
    };
    let log = seg.log.clone();
    let interval = config.index_interval_bytes;
    let end = scan(&log, &log_path, 0, file_bytes, true, |pos, h, bytes| {
        if let Err(e) = RecordBatchView::parse_verified(bytes) {
            return Step::Corrupt(e.to_string());
        }
        if h.base_offset < seg.next_offset {
            return Step::Corrupt(format!(
                "batch base offset {} is below the expected {}",
                h.base_offset, seg.next_offset
            ));
        }
        if h.last_offset - base > i64::from(u32::MAX) || pos + h.size > u64::from(u32::MAX) {
            return Step::Corrupt("batch does not fit the segment's index ranges".into());
        }
        seg.note_batch(pos, h, interval);
        if h.leader_epoch >= 0 {
            transitions.assign(h.leader_epoch, h.base_offset);
        }
        Step::Continue
    })?;
    let cut = end.position < file_bytes;
    if cut {
        tracing::warn!(
            segment = %log_path.display(),
            position = end.position,
            file_bytes,
            reason = end.corrupt.as_deref().unwrap_or("trailing bytes"),
            "truncating a torn or corrupt log tail"
        );
        seg.log
            .set_len(end.position)
            .map_err(|e| io_err(&log_path, e))?;
    }
    if closed && !cut {
        seg.close()?;
    }
    seg.sync_all()?;
    Ok((seg, cut))
}
