//! The partition log: a directory of segments (`<base offset>.log` with mmap'd `.index` and
//! `.timeindex`), append/read/truncate, retention by time and size, crash recovery and a
//! group-committed `fdatasync`. Knows nothing of Kafka error codes or Raft.
//!
//! API CONTRACT (fixed; the broker codes against it — change only with the broker's author):
//! the types below and [`PartitionLog`]'s methods.
//!
//! Code map: `log` (PartitionLog: locking, append/read/truncate/retention, group commit),
//! `compact` (the log cleaner's record filter, checkpoint and crash-safe swap files),
//! `segment` (one `.log` + indexes, batch scanning), `index` (mmap'd `.index`/`.timeindex`),
//! `recovery` (open: strays, CRC verification, tail cut, index rebuild), `epoch` (leader-epoch
//! cache), `checkpoint` (atomic checkpoint files), `sync_journal` (test-only record of what each
//! sync made durable, for the harness's lose-unsynced fault). The on-disk format and the assumptions
//! about the media are in `storage/FORMAT.md`.
//!
//! Invariants: a reader never sees bytes past the published size of a segment (so never a
//! half-written batch); every batch served either passed its CRC at recovery or was written
//! by this process since; `flush_to(n)` returns only when every byte below offset `n`, in
//! every segment, has been `fdatasync`ed and the directory entries naming them are durable.

mod checkpoint;
mod compact;
mod epoch;
mod index;
mod log;
mod recovery;
mod segment;
pub mod sync_journal;

pub use crate::log::PartitionLog;
pub use checkpoint::{
    CLEANER_CHECKPOINT_FILE, LEADER_EPOCH_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE,
};
pub use compact::CompactionOutcome;
pub use segment::{file_name as segment_file_name, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

use bytes::Bytes;

/// Per-partition settings (Kafka topic config names in comments).
///
/// `Eq` holds because `min_cleanable_dirty_ratio` is never NaN (the config crate accepts
/// only [0, 1]); a NaN ratio would never trigger cleaning by ratio.
#[derive(Debug, Clone, PartialEq)]
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
    /// `cleanup.policy`: delete (retention), compact, or both. With plain `Compact`,
    /// `retention.ms`/`retention.bytes` never delete segments.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: a tombstone survives cleaning until this long after the cleaner
    /// first saw it (KIP-534 delete horizon, written into its batch).
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean when dirty bytes / closed-segment bytes reach this.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments with a record newer than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: clean regardless of the dirty ratio once the oldest dirty
    /// record is older than this.
    pub max_compaction_lag_ms: i64,
}

impl Eq for LogConfig {}

/// `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// `delete`: time and size retention only (Kafka's default).
    #[default]
    Delete,
    /// `compact`: keep the latest record per key; retention never deletes segments.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
}

impl CleanupPolicy {
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
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
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
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

#[cfg(test)]
mod tests {
    #[test]
    fn partition_log_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::PartitionLog>();
    }
}
