//! The partition log: a directory of segments (`<base offset>.log` with mmap'd `.index` and
//! `.timeindex`), append/read/truncate, retention by time and size, crash recovery and a
//! group-committed `fdatasync`. Knows nothing of Kafka error codes or Raft.
//!
//! API CONTRACT (fixed; the broker codes against it — change only with the broker's author):

use std::path::Path;

use bytes::Bytes;

/// Per-partition settings (Kafka topic config names in comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll on append when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: -1 = keep forever.
    pub retention_ms: i64,
    /// `retention.bytes`: -1 = no size limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between offset-index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: preallocated (max) size of each index file.
    pub segment_index_bytes: u32,
    /// Whether an append is durable only after `fdatasync` (the default) or page cache only.
    pub durability: Durability,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            durability: Durability::Fsync,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `flush_to` returns after `fdatasync` (group commit).
    Fsync,
    /// `flush_to` returns at once; the OS writes back when it likes (Kafka's default).
    PageCache,
}

/// What an append assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Largest `max_timestamp` among the appended batches.
    pub max_timestamp: i64,
    /// Log end offset after the append (= last_offset + 1).
    pub log_end_offset: i64,
}

/// Batches read from the log: whole batches, byte-for-byte as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    pub bytes: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("invalid batch: {0}")]
    InvalidBatch(#[from] riffle_protocol::batch::BatchError),
    #[error("truncation point {0} is not a batch boundary or is below the log start")]
    InvalidTruncation(i64),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt log in {path}: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// One partition's log. `Send + Sync`: appends are serialised internally, reads run alongside
/// appends, and `flush_to` never holds the append lock during `fdatasync`.
pub struct PartitionLog {
    _private: (),
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, running recovery: verify the CRCs of the
    /// active (last) segment's batches, cut a torn or corrupt tail, rebuild missing or damaged
    /// indexes. After open, everything in the log counts as durable.
    pub fn open(_dir: impl AsRef<Path>, _config: LogConfig) -> Result<Self> {
        unimplemented!()
    }

    /// Appends concatenated, already-validated v2 batches. Patches each batch's base offset
    /// (consecutive from the log end) and partition leader epoch in `batches` before writing.
    /// Rolls first by `segment.bytes` / `segment.ms` (using `now_ms`). Does not sync.
    pub fn append(
        &self,
        _batches: &mut [u8],
        _leader_epoch: i32,
        _now_ms: i64,
    ) -> Result<AppendInfo> {
        unimplemented!()
    }

    /// Returns once everything below `end_offset` is durable (group commit: concurrent callers
    /// share one `fdatasync`). Immediate with `Durability::PageCache`.
    pub fn flush_to(&self, _end_offset: i64) -> Result<()> {
        unimplemented!()
    }

    /// Reads whole batches starting with the batch containing `offset`, up to `max_bytes`
    /// (but always at least one batch if any is available, as Kafka does), never including a
    /// batch whose last offset is >= `max_offset` (exclusive bound, e.g. the high watermark).
    /// `offset == log_end_offset` gives empty bytes; outside [start, end] gives OffsetOutOfRange.
    pub fn read(&self, _offset: i64, _max_bytes: u32, _max_offset: i64) -> Result<ReadResult> {
        unimplemented!()
    }

    pub fn log_start_offset(&self) -> i64 {
        unimplemented!()
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        unimplemented!()
    }

    /// First batch (in offset order) whose max timestamp is >= `timestamp_ms`, using the time
    /// index; the caller decodes its records for the exact offset.
    pub fn batch_for_timestamp(&self, _timestamp_ms: i64) -> Result<Option<Bytes>> {
        unimplemented!()
    }

    /// Largest max timestamp in the log and the last offset of the batch that has it.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        unimplemented!()
    }

    /// Calls `f` with each batch header from the batch containing `from_offset` to the end
    /// (used to rebuild producer state on start).
    pub fn for_each_batch(
        &self,
        _from_offset: i64,
        _f: &mut dyn FnMut(riffle_protocol::batch::RecordBatchView<'_>),
    ) -> Result<()> {
        unimplemented!()
    }

    /// Removes every offset >= `end_offset` (a batch boundary, >= log start). Durable on return.
    pub fn truncate_to(&self, _end_offset: i64) -> Result<()> {
        unimplemented!()
    }

    /// DeleteRecords: moves the log start offset up to `offset` (<= log end; durable via a
    /// checkpoint file) and deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, _offset: i64) -> Result<i64> {
        unimplemented!()
    }

    /// Time and size retention: deletes whole expired segments (rolling the active segment
    /// first if it has expired too) and moves the log start offset. Returns segments deleted.
    pub fn apply_retention(&self, _now_ms: i64) -> Result<usize> {
        unimplemented!()
    }

    /// Applies changed settings live (retention, roll, durability).
    pub fn set_config(&self, _config: LogConfig) {
        unimplemented!()
    }

    pub fn config(&self) -> LogConfig {
        unimplemented!()
    }

    /// Bytes on disk in segment files.
    pub fn size_bytes(&self) -> u64 {
        unimplemented!()
    }

    pub fn segment_count(&self) -> usize {
        unimplemented!()
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` known to this log and the end offset
    /// of that epoch (start offset of the next epoch, or the log end). None if the log has no
    /// epoch <= `epoch`.
    pub fn end_offset_for_epoch(&self, _epoch: i32) -> Option<(i32, i64)> {
        unimplemented!()
    }

    /// Closes the log and removes its directory (DeleteTopics).
    pub fn delete(self) -> Result<()> {
        unimplemented!()
    }
}
