//! The leader-epoch cache (KIP-101/KIP-320): for each leader epoch, the first offset written
//! in it. Answers OffsetForLeaderEpoch.
//!
//! Persisted in `leader-epoch-checkpoint` (Kafka's file) rather than rebuilt from batch
//! headers on open: a rebuild reads every batch header of every segment, which for a large
//! log is millions of small reads on each start. The file changes only when a new epoch
//! starts or on truncation, so writing it durably (before the first batch of the new epoch
//! is written) costs one extra `fsync` per leader change. Because it is written first, every
//! epoch found in a batch on disk is in the file; on open, entries at or past the recovered
//! log end are dropped, and the recovered tail's headers are merged in as a safety net. If the
//! file is missing or unreadable, the cache is rebuilt from all batch headers.

use std::path::Path;

use crate::checkpoint::{self, LEADER_EPOCH_FILE};
use crate::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    /// (epoch, start offset), strictly increasing in both.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub(crate) fn load(dir: &Path) -> Result<Option<Self>> {
        let Some(rows) = checkpoint::read(dir, LEADER_EPOCH_FILE, 2)? else {
            return Ok(None);
        };
        let mut cache = LeaderEpochCache::default();
        for row in rows {
            let Ok(epoch) = i32::try_from(row[0]) else {
                return Ok(None);
            };
            if !cache.assign(epoch, row[1]) {
                // Not increasing: treat as damaged and rebuild.
                return Ok(None);
            }
        }
        Ok(Some(cache))
    }

    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        let rows: Vec<Vec<i64>> = self
            .entries
            .iter()
            .map(|&(e, o)| vec![i64::from(e), o])
            .collect();
        checkpoint::write(dir, LEADER_EPOCH_FILE, &rows)
    }

    pub(crate) fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub(crate) fn latest(&self) -> Option<(i32, i64)> {
        self.entries.last().copied()
    }

    /// Records that `epoch` starts at `start_offset`. Only a larger epoch at a larger (or
    /// equal) offset is recorded; returns whether the cache changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        match self.latest() {
            Some((e, o)) if epoch <= e || start_offset < o => false,
            Some((_, o)) if start_offset == o => {
                // The previous epoch wrote nothing: it is superseded.
                self.entries.pop();
                self.entries.push((epoch, start_offset));
                true
            }
            _ => {
                self.entries.push((epoch, start_offset));
                true
            }
        }
    }

    /// Whether `assign(epoch, start_offset)` would change the cache.
    pub(crate) fn would_assign(&self, epoch: i32, start_offset: i64) -> bool {
        self.clone().assign(epoch, start_offset)
    }

    /// Drops epochs that start at or past `end_offset` (log truncated). Returns whether changed.
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, o)| o < end_offset);
        self.entries.len() != before
    }

    /// Log start moved to `start_offset`: epochs that ended before it go, and the epoch that
    /// contains it now starts there (Kafka's `truncateFromStart`). Returns whether changed.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let before = self.entries.clone();
        let keep_from = self
            .entries
            .iter()
            .rposition(|&(_, o)| o <= start_offset)
            .unwrap_or(0);
        self.entries.drain(..keep_from);
        if let Some(first) = self.entries.first_mut() {
            if first.1 < start_offset {
                first.1 = start_offset;
            }
        }
        self.entries != before
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` and the offset where it ended
    /// (the next epoch's start, or the log end for the latest epoch).
    pub(crate) fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let i = self.entries.iter().rposition(|&(e, _)| e <= epoch)?;
        let found = self.entries[i].0;
        let end = self
            .entries
            .get(i + 1)
            .map_or(log_end_offset, |&(_, start)| start);
        Some((found, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_cache_answers_kip320_lookups() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(1, 0));
        assert!(!c.assign(1, 5));
        assert!(c.assign(3, 10));
        assert!(!c.assign(2, 20));
        assert_eq!(c.end_offset_for(0, 30), None);
        assert_eq!(c.end_offset_for(1, 30), Some((1, 10)));
        assert_eq!(c.end_offset_for(2, 30), Some((1, 10)));
        assert_eq!(c.end_offset_for(3, 30), Some((3, 30)));
        assert_eq!(c.end_offset_for(9, 30), Some((3, 30)));
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries, vec![(3, 12)]);
        assert!(c.truncate_from_end(12));
        assert_eq!(c.latest(), None);
    }
}
