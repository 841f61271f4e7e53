//! One segment: a `.log` file of concatenated record batches plus its two indexes, the
//! in-memory facts about it (size, end offset, largest timestamp) and the scanners used by
//! reads and recovery.
//!
//! Reads use `pread` (`FileExt::read_at`) into an owned buffer rather than an mmap of the
//! log: the bytes become a `Bytes` the network layer owns after the locks are released, a
//! concurrent truncation can never turn into a SIGBUS, and no `unsafe` is needed. The page
//! cache still serves the data; the copy is cheap next to the socket write.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use riffle_protocol::batch::{
    BatchError, RecordBatchView, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES,
};

use crate::checkpoint::io_err;
use crate::index::{OffsetIndex, TimeIndex};
use crate::{Result, StorageError};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Timestamp meaning "none" (Kafka's `NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;
/// Bytes read per `pread` when scanning a segment.
const SCAN_CHUNK_BYTES: usize = 256 * 1024;

/// `<base offset, 20 digits><suffix>`, Kafka's file naming.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset encoded in a segment file name, if `name` is `<20 digits><suffix>`.
pub fn parse_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The header fields storage needs, decoded from the first 61 bytes of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub last_offset: i64,
    pub size: u64,
    pub leader_epoch: i32,
    pub max_timestamp: i64,
    pub producer_id: i64,
}

impl BatchHeader {
    /// Decodes a batch header from at least `BATCH_HEADER_BYTES` bytes (CRC not checked).
    pub(crate) fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_BYTES,
                available: buf.len(),
            });
        }
        let size = RecordBatchView::peek_size(buf)?;
        let i32_at =
            |at: usize| i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&buf[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let magic = buf[16] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let last_offset_delta = i32_at(23);
        if last_offset_delta < 0 {
            return Err(BatchError::Invalid("negative last offset delta"));
        }
        let base_offset = i64_at(0);
        let last_offset = base_offset
            .checked_add(i64::from(last_offset_delta))
            .ok_or(BatchError::Invalid("last offset overflows"))?;
        Ok(BatchHeader {
            base_offset,
            last_offset,
            size: size as u64,
            leader_epoch: i32_at(12),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
        })
    }
}

/// What a scan callback wants next.
pub(crate) enum Step {
    Continue,
    Stop,
    /// The batch at this position is bad: stop, report it.
    Corrupt(String),
}

/// Where a scan ended.
pub(crate) struct ScanEnd {
    /// Position just past the last batch accepted (or where `Stop` was returned).
    pub position: u64,
    /// Why the scan stopped early at `position`, if the data there is bad.
    pub corrupt: Option<String>,
}

/// Walks the batches of `file` in `[from, end)`, calling `f(position, header, bytes)`;
/// `bytes` is the whole batch if `whole` is set, else empty. A header that does not parse
/// or a batch running past `end` ends the scan as corrupt.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    from: u64,
    end: u64,
    whole: bool,
    mut f: impl FnMut(u64, &BatchHeader, &[u8]) -> Step,
) -> Result<ScanEnd> {
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = from;
    let mut pos = from;
    let refill = |buf: &mut Vec<u8>, buf_pos: &mut u64, at: u64, want: usize| -> Result<()> {
        let len = (want as u64).min(end - at) as usize;
        buf.clear();
        buf.resize(len, 0);
        file.read_exact_at(buf, at).map_err(|e| io_err(path, e))?;
        *buf_pos = at;
        Ok(())
    };
    while pos < end {
        let mut off = (pos - buf_pos) as usize;
        if buf.len() < off + BATCH_HEADER_BYTES {
            refill(&mut buf, &mut buf_pos, pos, SCAN_CHUNK_BYTES)?;
            off = 0;
        }
        let header = match BatchHeader::parse(&buf[off..]) {
            Ok(h) => h,
            Err(e) => {
                return Ok(ScanEnd {
                    position: pos,
                    corrupt: Some(e.to_string()),
                })
            }
        };
        if header.size > end - pos {
            return Ok(ScanEnd {
                position: pos,
                corrupt: Some(format!(
                    "batch of {} bytes runs past the end {end}",
                    header.size
                )),
            });
        }
        let size = header.size as usize;
        let bytes: &[u8] = if whole {
            if buf.len() < off + size {
                refill(&mut buf, &mut buf_pos, pos, SCAN_CHUNK_BYTES.max(size))?;
                off = 0;
            }
            &buf[off..off + size]
        } else {
            &[]
        };
        match f(pos, &header, bytes) {
            Step::Continue => pos += header.size,
            Step::Stop => {
                return Ok(ScanEnd {
                    position: pos,
                    corrupt: None,
                })
            }
            Step::Corrupt(reason) => {
                return Ok(ScanEnd {
                    position: pos,
                    corrupt: Some(reason),
                })
            }
        }
    }
    Ok(ScanEnd {
        position: pos,
        corrupt: None,
    })
}

/// A segment of the log.
pub(crate) struct Segment {
    pub base_offset: i64,
    pub log_path: PathBuf,
    pub log: Arc<File>,
    /// Bytes of complete batches in the `.log` (published: readers never look past it).
    pub size: u64,
    /// Last offset + 1 of the last batch (= base offset if empty).
    pub next_offset: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Largest batch max timestamp (`NO_TIMESTAMP` if none) and the last offset of the first
    /// batch that has it.
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch: `segment.ms` counts from it (Kafka's
    /// `rollingBasedTimestamp`).
    pub first_batch_timestamp: Option<i64>,
    /// When this segment was created or loaded: `segment.ms` fallback without timestamps.
    pub created_ms: i64,
    pub bytes_since_index_entry: u64,
}

pub(crate) fn paths(dir: &Path, base_offset: i64) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join(file_name(base_offset, LOG_SUFFIX)),
        dir.join(file_name(base_offset, INDEX_SUFFIX)),
        dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
    )
}

pub(crate) fn open_log_file(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .open(path)
        .map_err(|e| io_err(path, e))
}

impl Segment {
    /// Creates an empty active segment (its files replace any stray ones).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        index_bytes: u32,
        now_ms: i64,
    ) -> Result<Self> {
        let (log_path, index_path, time_path) = paths(dir, base_offset);
        Self::create_at(
            log_path,
            &index_path,
            &time_path,
            base_offset,
            index_bytes,
            now_ms,
        )
    }

    /// Creates an empty segment under the given file names (the cleaner writes `.cleaned`
    /// files this way).
    pub(crate) fn create_at(
        log_path: PathBuf,
        index_path: &Path,
        time_path: &Path,
        base_offset: i64,
        index_bytes: u32,
        now_ms: i64,
    ) -> Result<Self> {
        let log = open_log_file(&log_path, true)?;
        Ok(Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::create(index_path, base_offset, index_bytes)?,
            time_index: TimeIndex::create(time_path, base_offset, index_bytes)?,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            created_ms: now_ms,
            bytes_since_index_entry: 0,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether a batch with these offsets and size can still go in this segment without
    /// overflowing the u32 relative offsets and positions of the indexes.
    pub(crate) fn can_hold(&self, last_offset: i64, bytes: u64) -> bool {
        last_offset - self.base_offset <= i64::from(u32::MAX)
            && self.size + bytes <= u64::from(u32::MAX)
            && !self.offset_index.is_full()
            && !self.time_index.is_full()
    }

    /// Records a batch written at `position` (data already in the file): indexes and stats.
    pub(crate) fn note_batch(&mut self, position: u64, h: &BatchHeader, index_interval_bytes: u32) {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset;
        }
        if self.bytes_since_index_entry > u64::from(index_interval_bytes) {
            // A full index only makes lookups scan further; `can_hold` rolls before that.
            self.offset_index.append(h.last_offset, position);
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += h.size;
        self.size = position + h.size;
        self.next_offset = h.last_offset + 1;
    }

    /// The segment stops being active: add the final time-index entry for its largest
    /// timestamp (Kafka's `onBecomeInactiveSegment`) and trim both indexes to their entries.
    pub(crate) fn close(&mut self) -> Result<()> {
        if self.max_timestamp >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// The segment becomes active again (after truncation): indexes preallocated and writable.
    pub(crate) fn reopen_active(&mut self, index_bytes: u32) -> Result<()> {
        self.offset_index.make_writable(index_bytes)?;
        self.time_index.make_writable(index_bytes)
    }

    /// The position of the first batch whose last offset is >= `offset`, and its header;
    /// None if every batch here ends before `offset`.
    pub(crate) fn find(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let (_, start) = self.offset_index.lookup(offset);
        let mut found = None;
        let end = scan(
            &self.log,
            &self.log_path,
            start,
            self.size,
            false,
            |pos, h, _| {
                if h.last_offset >= offset {
                    found = Some((pos, *h));
                    Step::Stop
                } else {
                    Step::Continue
                }
            },
        )?;
        if found.is_none() {
            if let Some(reason) = end.corrupt {
                return Err(self.corrupt(end.position, reason));
            }
        }
        Ok(found)
    }

    /// First batch at or after `from_offset` whose max timestamp is >= `timestamp`.
    pub(crate) fn find_by_timestamp(
        &self,
        timestamp: i64,
        from_offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let start_offset = self
            .time_index
            .lookup(timestamp)
            .unwrap_or(self.base_offset)
            .max(from_offset);
        let (_, start) = self.offset_index.lookup(start_offset);
        let mut found = None;
        let end = scan(
            &self.log,
            &self.log_path,
            start,
            self.size,
            false,
            |pos, h, _| {
                if h.last_offset >= from_offset && h.max_timestamp >= timestamp {
                    found = Some((pos, *h));
                    Step::Stop
                } else {
                    Step::Continue
                }
            },
        )?;
        if found.is_none() {
            if let Some(reason) = end.corrupt {
                return Err(self.corrupt(end.position, reason));
            }
        }
        Ok(found)
    }

    pub(crate) fn read_exact(&self, position: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.log
            .read_exact_at(&mut buf, position)
            .map_err(|e| io_err(&self.log_path, e))?;
        Ok(buf)
    }

    /// Cuts the segment so that it ends just before the batch at `position` (whose base
    /// offset is `end_offset`), dropping index entries past it and recomputing stats.
    pub(crate) fn truncate_to(&mut self, position: u64, end_offset: i64) -> Result<()> {
        self.offset_index.truncate_to(end_offset)?;
        self.time_index.truncate_to(end_offset)?;
        self.log
            .set_len(position)
            .map_err(|e| io_err(&self.log_path, e))?;
        self.size = position;
        self.next_offset = end_offset;
        // Rescan from the last remaining index entry to rebuild the running stats.
        let rescan_from = self.offset_index.last().map_or(0, |(_, pos)| pos);
        match self.time_index.last() {
            Some((ts, off)) => {
                self.max_timestamp = ts;
                self.offset_of_max_timestamp = off;
            }
            None => {
                self.max_timestamp = NO_TIMESTAMP;
                self.offset_of_max_timestamp = self.base_offset;
            }
        }
        if position == 0 {
            self.first_batch_timestamp = None;
        }
        let mut bytes_since = 0;
        let (mut max_ts, mut max_off) = (self.max_timestamp, self.offset_of_max_timestamp);
        let end = scan(
            &self.log,
            &self.log_path,
            rescan_from,
            position,
            false,
            |_, h, _| {
                bytes_since += h.size;
                if h.max_timestamp > max_ts {
                    max_ts = h.max_timestamp;
                    max_off = h.last_offset;
                }
                Step::Continue
            },
        )?;
        if let Some(reason) = end.corrupt {
            return Err(self.corrupt(end.position, reason));
        }
        self.max_timestamp = max_ts;
        self.offset_of_max_timestamp = max_off;
        // `note_batch` counts the indexed batch itself and everything after it.
        self.bytes_since_index_entry = bytes_since;
        Ok(())
    }

    /// fdatasync of the log and both indexes.
    pub(crate) fn sync_all(&self) -> Result<()> {
        crate::sync_journal::sync_data(&self.log).map_err(|e| io_err(&self.log_path, e))?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    pub(crate) fn corrupt(&self, position: u64, reason: String) -> StorageError {
        StorageError::Corrupt {
            path: self.log_path.clone(),
            reason: format!("at position {position}: {reason}"),
        }
    }

    /// Unlinks the segment's files: the `.log` first (it alone defines the segment; stray
    /// indexes are removed on open). The caller syncs the directory.
    pub(crate) fn delete_files(dir: &Path, base_offset: i64) -> Result<()> {
        let (log, index, time) = paths(dir, base_offset);
        for p in [log, index, time] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p, e)),
            }
        }
        Ok(())
    }
}

/// Used by reads: the position and length of the batch prefix in `buf` to serve.
/// Whole batches only, the first always (if complete), then while within `max_bytes`, and
/// none whose last offset is >= `max_offset`.
pub(crate) fn cut_batches(buf: &[u8], max_bytes: usize, max_offset: i64, first: bool) -> usize {
    let mut used = 0;
    let mut first = first;
    while buf.len() - used >= BATCH_LENGTH_PREFIX_BYTES {
        let Ok(h) = BatchHeader::parse(&buf[used..]) else {
            break;
        };
        let size = h.size as usize;
        if buf.len() - used < size || h.last_offset >= max_offset {
            break;
        }
        if !first && used + size > max_bytes {
            break;
        }
        used += size;
        first = false;
    }
    used
}
