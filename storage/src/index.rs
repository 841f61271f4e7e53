//! The mmap'd per-segment indexes: `.index` (offset -> file position) and `.timeindex`
//! (timestamp -> offset), preallocated while the segment is active and trimmed to their
//! entries when it is rolled, as Kafka does.
//!
//! Both are sparse: an entry is added every `index.interval.bytes` of log data. Entries are
//! big-endian and sorted; lookups binary-search the mapped file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapMut};

use crate::checkpoint::io_err;
use crate::Result;

/// `.index` entry: relative offset (u32) + position of the batch in the `.log` (u32).
pub const OFFSET_ENTRY_BYTES: usize = 8;
/// `.timeindex` entry: timestamp (i64) + relative offset (u32).
pub const TIME_ENTRY_BYTES: usize = 12;

enum Map {
    /// Zero-length file: nothing to map.
    Empty,
    ReadOnly(Mmap),
    Writable(MmapMut),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Empty => &[],
            Map::ReadOnly(m) => m,
            Map::Writable(m) => m,
        }
    }
}

/// A file of fixed-size entries mapped into memory. Mutated only under the log's state write
/// lock; read under its read lock.
struct MmapIndex {
    path: PathBuf,
    file: Arc<File>,
    map: Map,
    entry_bytes: usize,
    entries: usize,
}

#[allow(unsafe_code)]
fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: index files live in the partition directory, which this process owns
    // exclusively (one PartitionLog per directory); we never shrink the file while this map
    // exists (trim/truncate drop the map before `set_len`), so no access can hit a page past
    // the end of the file.
    unsafe { Mmap::map(file) }
}

#[allow(unsafe_code)]
fn map_writable(file: &File) -> std::io::Result<MmapMut> {
    // SAFETY: as in `map_read_only`: exclusive ownership of the file, and the file is only
    // shrunk after this map is dropped.
    unsafe { MmapMut::map_mut(file) }
}

impl MmapIndex {
    /// Opens an existing index read-only. Errors if the length is not a whole number of entries.
    fn open_read_only(path: &Path, entry_bytes: usize) -> Result<Self, String> {
        // Writable handle: a closed segment's index may be cut (truncation) or regrown later.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len % entry_bytes as u64 != 0 {
            return Err(format!("length {len} is not a multiple of {entry_bytes}"));
        }
        let entries = usize::try_from(len / entry_bytes as u64).map_err(|e| e.to_string())?;
        let map = if len == 0 {
            Map::Empty
        } else {
            Map::ReadOnly(map_read_only(&file).map_err(|e| e.to_string())?)
        };
        Ok(MmapIndex {
            path: path.to_path_buf(),
            file: Arc::new(file),
            map,
            entry_bytes,
            entries,
        })
    }

    /// Creates (truncating any old content) an empty index preallocated to `max_bytes`.
    fn create(path: &Path, entry_bytes: usize, max_bytes: u32) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let mut index = MmapIndex {
            path: path.to_path_buf(),
            file: Arc::new(file),
            map: Map::Empty,
            entry_bytes,
            entries: 0,
        };
        index.make_writable(max_bytes)?;
        Ok(index)
    }

    fn capacity(&self) -> usize {
        self.map.bytes().len() / self.entry_bytes
    }

    fn is_full(&self) -> bool {
        self.entries >= self.capacity()
    }

    fn entry(&self, i: usize) -> &[u8] {
        let at = i * self.entry_bytes;
        &self.map.bytes()[at..at + self.entry_bytes]
    }

    /// Appends an entry; returns false (and writes nothing) if the index is full or read-only.
    fn append(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        if self.is_full() {
            return false;
        }
        let at = self.entries * self.entry_bytes;
        match &mut self.map {
            Map::Writable(m) => {
                m[at..at + self.entry_bytes].copy_from_slice(entry);
                self.entries += 1;
                true
            }
            _ => false,
        }
    }

    /// Drops entries from `keep` on (the file is trimmed later, or overwritten).
    fn truncate_entries(&mut self, keep: usize) -> Result<()> {
        if keep >= self.entries {
            return Ok(());
        }
        self.entries = keep;
        if let Map::Writable(m) = &mut self.map {
            // Zero the dropped entries so a crash cannot resurrect them past the valid ones.
            let start = keep * self.entry_bytes;
            m[start..].fill(0);
            Ok(())
        } else {
            // Read-only (closed segment): shrink the file to the kept entries.
            self.trim()
        }
    }

    /// Closed segment: flush, shrink the file to its entries and map it read-only.
    fn trim(&mut self) -> Result<()> {
        if let Map::Writable(m) = &self.map {
            m.flush().map_err(|e| io_err(&self.path, e))?;
        }
        self.map = Map::Empty;
        let len = (self.entries * self.entry_bytes) as u64;
        self.file.set_len(len).map_err(|e| io_err(&self.path, e))?;
        if len > 0 {
            self.map = Map::ReadOnly(map_read_only(&self.file).map_err(|e| io_err(&self.path, e))?);
        }
        Ok(())
    }

    /// Active segment: grow the file to `max_bytes` (rounded down to whole entries, and never
    /// below the current entries) and map it writable.
    fn make_writable(&mut self, max_bytes: u32) -> Result<()> {
        let used = self.entries * self.entry_bytes;
        let want = (max_bytes as usize / self.entry_bytes * self.entry_bytes).max(used);
        // Re-open for writing: a read-only index was opened with a read-only handle.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, e))?;
        self.map = Map::Empty;
        // Cut to the entries in use, then extend: the extension reads as zeros and stays
        // sparse (zero-filling it through the map would allocate every block up front).
        file.set_len(used as u64)
            .map_err(|e| io_err(&self.path, e))?;
        file.set_len(want as u64)
            .map_err(|e| io_err(&self.path, e))?;
        self.map = if want == 0 {
            Map::Empty
        } else {
            Map::Writable(map_writable(&file).map_err(|e| io_err(&self.path, e))?)
        };
        self.file = Arc::new(file);
        Ok(())
    }

    /// Makes written entries durable (msync + fdatasync).
    fn sync(&self) -> Result<()> {
        if let Map::Writable(m) = &self.map {
            m.flush().map_err(|e| io_err(&self.path, e))?;
        }
        crate::sync_journal::sync_data(&self.file).map_err(|e| io_err(&self.path, e))
    }

    /// Index of the first entry for which `is_after` is true (entries are sorted so that
    /// `is_after` is false then true).
    fn partition_point(&self, is_after: impl Fn(&[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if is_after(self.entry(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// Sparse map from (the last offset of) a batch to the file position where the batch starts.
/// Like Kafka, the entry's offset is the batch's *last* offset and the position its start.
pub(crate) struct OffsetIndex {
    base_offset: i64,
    inner: MmapIndex,
}

impl OffsetIndex {
    pub(crate) fn create(path: &Path, base_offset: i64, max_bytes: u32) -> Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            inner: MmapIndex::create(path, OFFSET_ENTRY_BYTES, max_bytes)?,
        })
    }

    /// Opens a closed segment's index read-only and sanity-checks it against the log size.
    pub(crate) fn open_checked(
        path: &Path,
        base_offset: i64,
        log_bytes: u64,
    ) -> Result<Self, String> {
        let index = OffsetIndex {
            base_offset,
            inner: MmapIndex::open_read_only(path, OFFSET_ENTRY_BYTES)?,
        };
        let mut prev: Option<(u32, u32)> = None;
        for i in 0..index.len() {
            let e = index.inner.entry(i);
            let (rel, pos) = (be_u32(&e[0..4]), be_u32(&e[4..8]));
            if u64::from(pos) >= log_bytes {
                return Err(format!(
                    "entry {i} position {pos} is past the log end {log_bytes}"
                ));
            }
            if let Some((prel, ppos)) = prev {
                if rel <= prel || pos <= ppos {
                    return Err(format!("entry {i} is not increasing"));
                }
            }
            prev = Some((rel, pos));
        }
        Ok(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.entries
    }

    pub(crate) fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// (absolute offset, position) of entry `i`.
    pub(crate) fn entry(&self, i: usize) -> (i64, u64) {
        let e = self.inner.entry(i);
        (
            self.base_offset + i64::from(be_u32(&e[0..4])),
            u64::from(be_u32(&e[4..8])),
        )
    }

    pub(crate) fn last(&self) -> Option<(i64, u64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Where to start scanning for the batch containing `offset`: the position of the last
    /// entry whose (last) offset is <= `offset` (that batch ends at or before `offset`, so the
    /// wanted batch starts there or later), else the segment start. Returns (offset, position).
    pub(crate) fn lookup(&self, offset: i64) -> (i64, u64) {
        let base = self.base_offset;
        let n = self
            .inner
            .partition_point(|e| base + i64::from(be_u32(&e[0..4])) > offset);
        match n.checked_sub(1) {
            Some(i) => self.entry(i),
            None => (base, 0),
        }
    }

    /// Appends (last offset, position). The caller guarantees both fit in u32 when relative.
    pub(crate) fn append(&mut self, last_offset: i64, position: u64) -> bool {
        let rel = (last_offset - self.base_offset) as u32;
        let mut e = [0u8; OFFSET_ENTRY_BYTES];
        e[0..4].copy_from_slice(&rel.to_be_bytes());
        e[4..8].copy_from_slice(&(position as u32).to_be_bytes());
        self.inner.append(&e)
    }

    /// Removes entries for batches at or past `end_offset`.
    pub(crate) fn truncate_to(&mut self, end_offset: i64) -> Result<()> {
        let base = self.base_offset;
        let keep = self
            .inner
            .partition_point(|e| base + i64::from(be_u32(&e[0..4])) >= end_offset);
        self.inner.truncate_entries(keep)
    }

    pub(crate) fn trim(&mut self) -> Result<()> {
        self.inner.trim()
    }
    pub(crate) fn make_writable(&mut self, max_bytes: u32) -> Result<()> {
        self.inner.make_writable(max_bytes)
    }
    pub(crate) fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    pub(crate) fn file(&self) -> Arc<File> {
        self.inner.file.clone()
    }
}

/// Sparse map from the segment's largest timestamp so far to the (last) offset of the batch
/// that first reached it. Entries are strictly increasing in timestamp.
pub(crate) struct TimeIndex {
    base_offset: i64,
    inner: MmapIndex,
}

impl TimeIndex {
    pub(crate) fn create(path: &Path, base_offset: i64, max_bytes: u32) -> Result<Self> {
        Ok(TimeIndex {
            base_offset,
            inner: MmapIndex::create(path, TIME_ENTRY_BYTES, max_bytes)?,
        })
    }

    /// Opens a closed segment's time index read-only and sanity-checks it: increasing
    /// timestamps, non-decreasing offsets, all below `end_offset`.
    pub(crate) fn open_checked(
        path: &Path,
        base_offset: i64,
        end_offset: i64,
    ) -> Result<Self, String> {
        let index = TimeIndex {
            base_offset,
            inner: MmapIndex::open_read_only(path, TIME_ENTRY_BYTES)?,
        };
        let mut prev: Option<(i64, i64)> = None;
        for i in 0..index.len() {
            let (ts, off) = index.entry(i);
            if off >= end_offset {
                return Err(format!(
                    "entry {i} offset {off} is past the segment end {end_offset}"
                ));
            }
            if let Some((pts, poff)) = prev {
                if ts <= pts || off < poff {
                    return Err(format!("entry {i} is not increasing"));
                }
            }
            prev = Some((ts, off));
        }
        Ok(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.entries
    }
    pub(crate) fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// (timestamp, absolute offset) of entry `i`.
    pub(crate) fn entry(&self, i: usize) -> (i64, i64) {
        let e = self.inner.entry(i);
        (
            be_i64(&e[0..8]),
            self.base_offset + i64::from(be_u32(&e[8..12])),
        )
    }

    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Offset of the last entry whose timestamp is strictly below `timestamp`: no batch at or
    /// before it can have a max timestamp >= `timestamp`, so a scan may start there.
    pub(crate) fn lookup(&self, timestamp: i64) -> Option<i64> {
        let n = self
            .inner
            .partition_point(|e| be_i64(&e[0..8]) >= timestamp);
        n.checked_sub(1).map(|i| self.entry(i).1)
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        if let Some((last_ts, _)) = self.last() {
            if timestamp <= last_ts {
                return true;
            }
        }
        let mut e = [0u8; TIME_ENTRY_BYTES];
        e[0..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..12].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.inner.append(&e)
    }

    /// Removes entries whose offset is at or past `end_offset`.
    pub(crate) fn truncate_to(&mut self, end_offset: i64) -> Result<()> {
        let base = self.base_offset;
        let keep = self
            .inner
            .partition_point(|e| base + i64::from(be_u32(&e[8..12])) >= end_offset);
        self.inner.truncate_entries(keep)
    }

    pub(crate) fn trim(&mut self) -> Result<()> {
        self.inner.trim()
    }
    pub(crate) fn make_writable(&mut self, max_bytes: u32) -> Result<()> {
        self.inner.make_writable(max_bytes)
    }
    pub(crate) fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    pub(crate) fn file(&self) -> Arc<File> {
        self.inner.file.clone()
    }
}
