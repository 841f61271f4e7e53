//! `PartitionLog`: the segment list behind a read-write lock, appends serialised by a
//! mutation lock, and the group-committed `fdatasync`.
//!
//! Locking: `mutation` (held by append, roll, truncate, retention, delete-records) ->
//! `state` (write-locked only to publish a change, read-locked by readers) -> `flush`
//! (held briefly, never across a sync or while taking `state`). A read takes `state` only to
//! locate its bytes, then `pread`s without locks; a truncation bumps `generation` and the read
//! retries if it raced one. Appends write the bytes past the published segment size with only
//! `mutation` held, then publish the new size under `state`, so a reader never sees a
//! half-written batch.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use riffle_protocol::batch::{
    set_base_offset, set_partition_leader_epoch, BatchError, RecordBatchView, BATCH_HEADER_BYTES,
};

use crate::checkpoint::{self, io_err, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::compact::{
    self, CleanerCheckpoint, CompactionOutcome, Filtered, CLEANED_SUFFIX, OFFSET_MAP_BYTES_MAX,
    SWAP_SUFFIX,
};
use crate::epoch::LeaderEpochCache;
use crate::recovery;
use crate::segment::{cut_batches, scan, BatchHeader, Segment, Step};
use crate::sync_journal;
use crate::{AppendInfo, Durability, LogConfig, ReadResult, Result, StorageError};
use std::collections::HashMap;

struct LogState {
    /// Sorted by base offset; never empty; the last is the active segment.
    segments: Vec<Segment>,
    log_start: i64,
    epochs: LeaderEpochCache,
    config: LogConfig,
    /// Bumped by every truncation and cleaner swap, so lock-free reads can detect that they
    /// raced one.
    generation: u64,
    /// Lowest offset truncated since the cleaner last looked (i64::MAX: none): the cleaner
    /// checkpoint must not claim anything at or past it is clean.
    cleaner_floor: i64,
}

impl LogState {
    fn active(&self) -> &Segment {
        let last = self.segments.len() - 1;
        &self.segments[last]
    }
    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }
    fn log_end(&self) -> i64 {
        self.active().next_offset
    }
    /// Index of the last segment whose base offset is <= `offset` (0 if none).
    fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }
}

struct FlushState {
    /// Everything below this offset is durable.
    durable_end: i64,
    /// A sync is running; others wait on `flush_done` and re-check.
    syncing: bool,
    /// Bumped by truncation: a sync that started before it must not raise `durable_end`.
    generation: u64,
    /// Files of rolled segments not yet synced (log + both indexes).
    pending: Vec<Arc<File>>,
    /// A segment file was created or removed since the last directory sync.
    dir_dirty: bool,
}

/// One byte range of one segment a read will `pread`.
struct ReadPart {
    file: Arc<File>,
    path: PathBuf,
    from: u64,
    to: u64,
}

/// One partition's log. `Send + Sync`: appends are serialised internally, reads run alongside
/// appends, and `flush_to` never holds the append lock during `fdatasync`.
pub struct PartitionLog {
    dir: PathBuf,
    mutation: Mutex<()>,
    state: RwLock<LogState>,
    flush: Mutex<FlushState>,
    flush_done: Condvar,
    /// The recovery point on disk; the mutex orders its writers.
    recovery_point: Mutex<i64>,
    /// The cleaner checkpoint; held for a whole `compact` pass, so passes never overlap.
    /// Taken before `mutation`.
    cleaner: Mutex<CleanerCheckpoint>,
    /// Set when a sync or a multi-step change failed half-way: the in-memory view may no
    /// longer match the disk, so mutations and flushes refuse until the log is reopened.
    poisoned: AtomicBool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn mtime_ms(file: &File) -> i64 {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, running recovery: verify the CRCs of the
    /// active (last) segment's batches, cut a torn or corrupt tail, rebuild missing or damaged
    /// indexes. After open, everything in the log counts as durable.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let rec = recovery::recover(&dir, &config, now_ms())?;
        let cleaner = CleanerCheckpoint::load(&dir);
        let log_end = rec.segments.last().map_or(0, |s| s.next_offset);
        Ok(PartitionLog {
            dir,
            mutation: Mutex::new(()),
            state: RwLock::new(LogState {
                segments: rec.segments,
                log_start: rec.log_start,
                epochs: rec.epochs,
                config,
                generation: 0,
                cleaner_floor: i64::MAX,
            }),
            flush: Mutex::new(FlushState {
                durable_end: log_end,
                syncing: false,
                generation: 0,
                pending: Vec::new(),
                dir_dirty: false,
            }),
            flush_done: Condvar::new(),
            recovery_point: Mutex::new(rec.recovery_point),
            cleaner: Mutex::new(cleaner),
            poisoned: AtomicBool::new(false),
        })
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StorageError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(
                    "an earlier I/O failure left the log unusable; reopen it",
                ),
            });
        }
        Ok(())
    }

    /// Runs `f`; if it fails, poisons the log (used where a failure can leave memory and disk
    /// disagreeing).
    fn poison_on_error<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        r
    }

    /// Appends concatenated, already-validated v2 batches. Patches each batch's base offset
    /// (consecutive from the log end) and partition leader epoch in `batches` before writing.
    /// Rolls first by `segment.bytes` / `segment.ms` (using `now_ms`). Does not sync.
    pub fn append(&self, batches: &mut [u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let _mutation = self.mutation.lock();
        self.check_poisoned()?;
        let (log_end, config) = {
            let st = self.state.read();
            (st.log_end(), st.config.clone())
        };

        // Assign offsets and epoch in place; collect the headers for the indexes.
        let mut headers: Vec<(u64, BatchHeader)> = Vec::new();
        let mut pos = 0usize;
        let mut next = log_end;
        while pos < batches.len() {
            let size = RecordBatchView::parse(&batches[pos..])?.size_bytes();
            let batch = &mut batches[pos..pos + size];
            set_base_offset(batch, next);
            set_partition_leader_epoch(batch, leader_epoch);
            let h = BatchHeader::parse(batch)?;
            headers.push((pos as u64, h));
            next = h.last_offset + 1;
            pos += size;
        }
        if headers.is_empty() {
            return Err(StorageError::InvalidBatch(BatchError::Truncated {
                needed: BATCH_HEADER_BYTES,
                available: 0,
            }));
        }
        let total = batches.len() as u64;
        let last_offset = next - 1;

        let need_roll = {
            let st = self.state.read();
            let a = st.active();
            let rolling_ts = a
                .first_batch_timestamp
                .filter(|&t| t >= 0)
                .unwrap_or(a.created_ms);
            !a.is_empty()
                && (a.size + total > config.segment_bytes
                    || now_ms - rolling_ts > config.segment_ms
                    || !a.can_hold(last_offset, total))
        };
        if need_roll {
            self.roll(now_ms)?;
        }

        // A new epoch goes to the checkpoint before any of its batches reach the log.
        if leader_epoch >= 0 {
            let st = self.state.read();
            if st.epochs.would_assign(leader_epoch, log_end) {
                let mut epochs = st.epochs.clone();
                drop(st);
                epochs.assign(leader_epoch, log_end);
                epochs.store(&self.dir)?;
            }
        }

        let (file, path, at) = {
            let st = self.state.read();
            let a = st.active();
            (a.log.clone(), a.log_path.clone(), a.size)
        };
        if let Err(e) = file.write_all_at(batches, at) {
            // Nothing was published; drop any partial bytes so the next append starts clean.
            let _ = file.set_len(at);
            return Err(io_err(&path, e));
        }

        let mut st = self.state.write();
        let interval = st.config.index_interval_bytes;
        let active = st.active_mut();
        let mut max_timestamp = i64::MIN;
        for (p, h) in &headers {
            active.note_batch(at + p, h, interval);
            max_timestamp = max_timestamp.max(h.max_timestamp);
        }
        if leader_epoch >= 0 {
            st.epochs.assign(leader_epoch, log_end);
        }
        Ok(AppendInfo {
            base_offset: log_end,
            last_offset,
            max_timestamp,
            log_end_offset: last_offset + 1,
        })
    }

    /// Closes the active segment and starts a new one at the log end. Caller holds `mutation`.
    fn roll(&self, now_ms: i64) -> Result<()> {
        let (base, index_bytes) = {
            let st = self.state.read();
            (st.log_end(), st.config.segment_index_bytes)
        };
        let new = Segment::create(&self.dir, base, index_bytes, now_ms)?;
        let mut st = self.state.write();
        let old = st.active_mut();
        old.close()?;
        let files = [
            old.log.clone(),
            old.offset_index.file(),
            old.time_index.file(),
        ];
        st.segments.push(new);
        // Under the state lock, so a flush that sees the new active segment also sees these.
        let mut fl = self.flush.lock();
        fl.pending.extend(files);
        fl.dir_dirty = true;
        tracing::debug!(base, "rolled segment");
        Ok(())
    }

    /// Returns once everything below `end_offset` is durable (group commit: concurrent callers
    /// share one `fdatasync`). Immediate with `Durability::PageCache`.
    pub fn flush_to(&self, end_offset: i64) -> Result<()> {
        if self.state.read().config.durability == Durability::PageCache {
            return Ok(());
        }
        self.sync_to(end_offset)
    }

    /// Syncs everything appended so far, whatever the durability mode (for a clean shutdown
    /// or a periodic flush in page-cache mode, like Kafka's `flush.ms`). Also advances the
    /// recovery point past rolled segments, which keeps the next open fast.
    pub fn flush_all(&self) -> Result<()> {
        let end = self.log_end_offset();
        self.sync_to(end)
    }

    /// Group commit: one caller syncs, the others wait for it and re-check.
    fn sync_to(&self, end_offset: i64) -> Result<()> {
        // Nothing past the log end can be made durable: clamp, or callers would spin.
        let end_offset = end_offset.min(self.log_end_offset());
        let mut fl = self.flush.lock();
        loop {
            self.check_poisoned()?;
            if fl.durable_end >= end_offset {
                return Ok(());
            }
            if fl.syncing {
                self.flush_done.wait(&mut fl);
                continue;
            }
            fl.syncing = true;
            let generation = fl.generation;
            drop(fl);
            // Snapshot the active segment before taking the pending list: a roll publishes
            // the new active segment after queuing the old one, so nothing is missed.
            let (target, active, active_path, active_base) = {
                let st = self.state.read();
                let a = st.active();
                (
                    st.log_end(),
                    a.log.clone(),
                    a.log_path.clone(),
                    a.base_offset,
                )
            };
            let (pending, dir_dirty) = {
                let mut fl = self.flush.lock();
                (
                    std::mem::take(&mut fl.pending),
                    std::mem::replace(&mut fl.dir_dirty, false),
                )
            };
            let result = self.sync_files(
                &pending,
                dir_dirty,
                &active,
                &active_path,
                active_base,
                generation,
            );
            fl = self.flush.lock();
            fl.syncing = false;
            if let Err(e) = result {
                // After a failed fdatasync the kernel may have dropped the dirty pages: no
                // later sync can vouch for them, so the log refuses until reopened (recovery).
                self.poisoned.store(true, Ordering::Release);
                self.flush_done.notify_all();
                tracing::error!(error = %e, "fdatasync failed; log poisoned");
                return Err(e);
            }
            if fl.generation == generation {
                fl.durable_end = fl.durable_end.max(target);
            }
            self.flush_done.notify_all();
        }
    }

    fn sync_files(
        &self,
        pending: &[Arc<File>],
        dir_dirty: bool,
        active: &File,
        active_path: &Path,
        active_base: i64,
        generation: u64,
    ) -> Result<()> {
        for f in pending {
            sync_journal::sync_data(f).map_err(|e| io_err(&self.dir, e))?;
        }
        sync_journal::sync_data(active).map_err(|e| io_err(active_path, e))?;
        if dir_dirty {
            checkpoint::sync_dir(&self.dir)?;
        }
        if !pending.is_empty() {
            // Every segment below the active one is now complete and synced.
            let mut rp = self.recovery_point.lock();
            if *rp < active_base && self.flush.lock().generation == generation {
                checkpoint::write_single(&self.dir, RECOVERY_POINT_FILE, active_base)?;
                *rp = active_base;
            }
        }
        Ok(())
    }

    /// Reads whole batches starting with the batch containing `offset`, up to `max_bytes`
    /// (but always at least one batch if any is available, as Kafka does), never including a
    /// batch whose last offset is >= `max_offset` (exclusive bound, e.g. the high watermark).
    /// `offset == log_end_offset` gives empty bytes; outside [start, end] gives OffsetOutOfRange.
    pub fn read(&self, offset: i64, max_bytes: u32, max_offset: i64) -> Result<ReadResult> {
        loop {
            let (parts, first_size, generation, log_start, log_end) = {
                let st = self.state.read();
                let (log_start, log_end) = (st.log_start, st.log_end());
                if offset < log_start || offset > log_end {
                    return Err(StorageError::OffsetOutOfRange {
                        offset,
                        log_start_offset: log_start,
                        log_end_offset: log_end,
                    });
                }
                let empty = ReadResult {
                    bytes: Bytes::new(),
                    log_start_offset: log_start,
                    log_end_offset: log_end,
                };
                if offset == log_end || offset >= max_offset {
                    return Ok(empty);
                }
                let mut found = None;
                for j in st.segment_for(offset)..st.segments.len() {
                    if let Some((pos, h)) = st.segments[j].find(offset)? {
                        found = Some((j, pos, h));
                        break;
                    }
                }
                let Some((j, pos, h)) = found else {
                    return Ok(empty);
                };
                if h.last_offset >= max_offset {
                    return Ok(empty);
                }
                let parts: Vec<ReadPart> = st.segments[j..]
                    .iter()
                    .enumerate()
                    .map(|(k, s)| ReadPart {
                        file: s.log.clone(),
                        path: s.log_path.clone(),
                        from: if k == 0 { pos } else { 0 },
                        to: s.size,
                    })
                    .collect();
                (parts, h.size, st.generation, log_start, log_end)
            };

            let mut out: Vec<u8> = Vec::new();
            let mut budget = max_bytes as usize;
            for part in &parts {
                let avail = part.to - part.from;
                let want = if out.is_empty() {
                    (budget as u64).max(first_size)
                } else {
                    budget as u64
                }
                .min(avail) as usize;
                let mut buf = vec![0u8; want];
                part.file
                    .read_exact_at(&mut buf, part.from)
                    .map_err(|e| io_err(&part.path, e))?;
                let used = cut_batches(&buf, budget, max_offset, out.is_empty());
                if out.is_empty() {
                    buf.truncate(used);
                    out = buf;
                } else {
                    out.extend_from_slice(&buf[..used]);
                }
                budget = budget.saturating_sub(used);
                if (used as u64) < avail {
                    break;
                }
            }
            if self.state.read().generation != generation {
                continue; // raced a truncation: the bytes may be stale
            }
            return Ok(ReadResult {
                bytes: Bytes::from(out),
                log_start_offset: log_start,
                log_end_offset: log_end,
            });
        }
    }

    pub fn log_start_offset(&self) -> i64 {
        self.state.read().log_start
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.state.read().log_end()
    }

    /// First batch (in offset order) whose max timestamp is >= `timestamp_ms`, using the time
    /// index; the caller decodes its records for the exact offset.
    pub fn batch_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<Bytes>> {
        let st = self.state.read();
        for seg in &st.segments {
            if let Some((pos, h)) = seg.find_by_timestamp(timestamp_ms, st.log_start)? {
                let bytes = seg.read_exact(pos, h.size as usize)?;
                return Ok(Some(Bytes::from(bytes)));
            }
        }
        Ok(None)
    }

    /// Largest max timestamp in the log and the last offset of the batch that has it.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let st = self.state.read();
        let mut best: Option<(i64, i64)> = None;
        for seg in &st.segments {
            let better = match best {
                Some((ts, _)) => seg.max_timestamp > ts,
                None => true,
            };
            if seg.max_timestamp >= 0 && better {
                best = Some((seg.max_timestamp, seg.offset_of_max_timestamp));
            }
        }
        best
    }

    /// Calls `f` with each batch header from the batch containing `from_offset` to the end
    /// (used to rebuild producer state on start).
    pub fn for_each_batch(
        &self,
        from_offset: i64,
        f: &mut dyn FnMut(RecordBatchView<'_>),
    ) -> Result<()> {
        let parts: Vec<ReadPart> = {
            let st = self.state.read();
            let from_offset = from_offset.max(st.log_start);
            let mut found = None;
            for j in st.segment_for(from_offset)..st.segments.len() {
                if let Some((pos, _)) = st.segments[j].find(from_offset)? {
                    found = Some((j, pos));
                    break;
                }
            }
            let Some((j, pos)) = found else {
                return Ok(());
            };
            st.segments[j..]
                .iter()
                .enumerate()
                .map(|(k, s)| ReadPart {
                    file: s.log.clone(),
                    path: s.log_path.clone(),
                    from: if k == 0 { pos } else { 0 },
                    to: s.size,
                })
                .collect()
        };
        for part in parts {
            let mut err = None;
            let end = scan(
                &part.file,
                &part.path,
                part.from,
                part.to,
                true,
                |_, _, bytes| match RecordBatchView::parse(bytes) {
                    Ok(view) => {
                        f(view);
                        Step::Continue
                    }
                    Err(e) => {
                        err = Some(e.to_string());
                        Step::Stop
                    }
                },
            )?;
            if let Some(reason) = err.or(end.corrupt) {
                return Err(StorageError::Corrupt {
                    path: part.path,
                    reason: format!("at position {}: {reason}", end.position),
                });
            }
        }
        Ok(())
    }

    /// Removes every offset >= `end_offset` (a batch boundary, >= log start). Durable on return.
    pub fn truncate_to(&self, end_offset: i64) -> Result<()> {
        let _mutation = self.mutation.lock();
        self.check_poisoned()?;
        let (i, position, containing_base, victims) = {
            let st = self.state.read();
            if end_offset < st.log_start || end_offset > st.log_end() {
                return Err(StorageError::InvalidTruncation(end_offset));
            }
            if end_offset == st.log_end() {
                return Ok(());
            }
            let i = st.segment_for(end_offset);
            let seg = &st.segments[i];
            let position = match seg.find(end_offset)? {
                Some((pos, h)) if h.base_offset == end_offset => pos,
                _ => return Err(StorageError::InvalidTruncation(end_offset)),
            };
            let victims: Vec<i64> = st.segments[i + 1..].iter().map(|s| s.base_offset).collect();
            (i, position, seg.base_offset, victims)
        };
        {
            let mut fl = self.flush.lock();
            fl.generation += 1;
            fl.durable_end = fl.durable_end.min(end_offset);
        }
        let r = self.truncate_steps(end_offset, i, position, containing_base, &victims);
        self.poison_on_error(r)
    }

    fn truncate_steps(
        &self,
        end_offset: i64,
        i: usize,
        position: u64,
        containing_base: i64,
        victims: &[i64],
    ) -> Result<()> {
        // The containing segment will take new, unsynced appends: recovery must verify it.
        {
            let mut rp = self.recovery_point.lock();
            if *rp > containing_base {
                checkpoint::write_single(&self.dir, RECOVERY_POINT_FILE, containing_base)?;
                *rp = containing_base;
            }
        }
        // Newest first, each durable before the next: a crash leaves a prefix of the log.
        for &base in victims.iter().rev() {
            Segment::delete_files(&self.dir, base)?;
            checkpoint::sync_dir(&self.dir)?;
        }
        let (log, path, epochs) = {
            let mut st = self.state.write();
            st.generation += 1;
            st.cleaner_floor = st.cleaner_floor.min(end_offset);
            let index_bytes = st.config.segment_index_bytes;
            st.segments.truncate(i + 1);
            let seg = &mut st.segments[i];
            seg.truncate_to(position, end_offset)?;
            if !victims.is_empty() {
                seg.reopen_active(index_bytes)?;
            }
            let (log, path) = (seg.log.clone(), seg.log_path.clone());
            let changed = st.epochs.truncate_from_end(end_offset);
            (log, path, changed.then(|| st.epochs.clone()))
        };
        sync_journal::sync_data(&log).map_err(|e| io_err(&path, e))?;
        if let Some(epochs) = epochs {
            epochs.store(&self.dir)?;
        }
        tracing::info!(end_offset, "truncated log");
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (<= log end; durable via a
    /// checkpoint file) and deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let _mutation = self.mutation.lock();
        self.check_poisoned()?;
        {
            let st = self.state.read();
            if offset > st.log_end() {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    log_start_offset: st.log_start,
                    log_end_offset: st.log_end(),
                });
            }
            if offset <= st.log_start {
                return Ok(st.log_start);
            }
        }
        checkpoint::write_single(&self.dir, LOG_START_OFFSET_FILE, offset)?;
        let n = {
            let st = self.state.read();
            st.segments
                .windows(2)
                .take_while(|w| w[1].base_offset <= offset)
                .count()
        };
        self.remove_oldest(n, offset)?;
        Ok(offset)
    }

    /// Drops the `n` oldest segments and raises the log start to `new_log_start` (already
    /// checkpointed by the caller). A crash part-way leaves segments wholly below the durable
    /// log start, which open deletes.
    fn remove_oldest(&self, n: usize, new_log_start: i64) -> Result<()> {
        let (victims, epochs) = {
            let mut st = self.state.write();
            st.log_start = st.log_start.max(new_log_start);
            let victims: Vec<i64> = st.segments.drain(..n).map(|s| s.base_offset).collect();
            let start = st.log_start;
            let changed = st.epochs.truncate_from_start(start);
            (victims, changed.then(|| st.epochs.clone()))
        };
        for &base in &victims {
            Segment::delete_files(&self.dir, base)?;
        }
        if !victims.is_empty() {
            checkpoint::sync_dir(&self.dir)?;
        }
        if let Some(epochs) = epochs {
            epochs.store(&self.dir)?;
        }
        Ok(())
    }

    /// Time and size retention: deletes whole expired segments (rolling the active segment
    /// first if it has expired too) and moves the log start offset. Returns segments deleted.
    /// Does nothing under `cleanup.policy=compact` (only `delete` and `compact,delete`).
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        let _mutation = self.mutation.lock();
        self.check_poisoned()?;
        let (n, roll) = {
            let st = self.state.read();
            if !st.config.cleanup_policy.deletes() {
                return Ok(0);
            }
            let last = st.segments.len() - 1;
            let deletable = |i: usize| !(i == last && st.segments[i].is_empty());
            let mut n = 0;
            if st.config.retention_ms >= 0 {
                // Kafka: expired when now - largestTimestamp > retention.ms, where a segment
                // without timestamps uses its file's modification time.
                while n < st.segments.len() && deletable(n) {
                    let seg = &st.segments[n];
                    let largest = if seg.max_timestamp >= 0 {
                        seg.max_timestamp
                    } else {
                        mtime_ms(&seg.log)
                    };
                    if now_ms - largest > st.config.retention_ms {
                        n += 1;
                    } else {
                        break;
                    }
                }
            }
            if st.config.retention_bytes >= 0 {
                let remaining: u64 = st.segments[n..].iter().map(|s| s.size).sum();
                let mut diff = remaining as i64 - st.config.retention_bytes;
                while n < st.segments.len()
                    && deletable(n)
                    && diff - st.segments[n].size as i64 >= 0
                {
                    diff -= st.segments[n].size as i64;
                    n += 1;
                }
            }
            (n, n == st.segments.len())
        };
        if n == 0 {
            return Ok(0);
        }
        if roll {
            self.roll(now_ms)?;
        }
        let (new_start, old_start) = {
            let st = self.state.read();
            (st.segments[n].base_offset, st.log_start)
        };
        if new_start > old_start {
            checkpoint::write_single(&self.dir, LOG_START_OFFSET_FILE, new_start)?;
        }
        self.remove_oldest(n, new_start)?;
        tracing::info!(
            segments = n,
            log_start = new_start,
            "retention deleted segments"
        );
        Ok(n)
    }

    /// Applies changed settings live (retention, roll, durability).
    pub fn set_config(&self, config: LogConfig) {
        self.state.write().config = config;
    }

    pub fn config(&self) -> LogConfig {
        self.state.read().config.clone()
    }

    /// Bytes on disk in segment files.
    pub fn size_bytes(&self) -> u64 {
        self.state.read().segments.iter().map(|s| s.size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.state.read().segments.len()
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` known to this log and the end offset
    /// of that epoch (start offset of the next epoch, or the log end). None if the log has no
    /// epoch <= `epoch`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let st = self.state.read();
        st.epochs.end_offset_for(epoch, st.log_end())
    }

    /// Closes the log and removes its directory (DeleteTopics).
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        if let Some(parent) = dir.parent() {
            checkpoint::sync_dir(parent)?;
        }
        Ok(())
    }
}

/// One segment as the cleaner saw it when it planned a pass.
struct SegmentSnapshot {
    base_offset: i64,
    next_offset: i64,
    file: Arc<File>,
    path: PathBuf,
    size: u64,
}

/// What the cleaner decided to do, from one consistent view of the log.
struct CleanPlan {
    /// Every segment, oldest first (the last is the active one).
    all: Vec<SegmentSnapshot>,
    /// `all[..cleanable]` are closed, below the recovery point and older than
    /// `min.compaction.lag.ms`.
    cleanable: usize,
    /// `all[dirty_from..cleanable]` are dirty (at or past the cleaner checkpoint).
    dirty_from: usize,
    dirty_ratio: f64,
    eligible: bool,
    config: LogConfig,
}

/// A segment rewritten into `.cleaned` files, waiting to be swapped in.
struct CleanedSegment {
    index: usize,
    base_offset: i64,
}

impl PartitionLog {
    fn plan_cleaning(&self, ckpt: &CleanerCheckpoint, now_ms: i64) -> CleanPlan {
        let recovery_point = *self.recovery_point.lock();
        let st = self.state.read();
        let config = st.config.clone();
        let last = st.segments.len() - 1;
        let all: Vec<SegmentSnapshot> = st
            .segments
            .iter()
            .map(|s| SegmentSnapshot {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                file: s.log.clone(),
                path: s.log_path.clone(),
                size: s.size,
            })
            .collect();
        // Closed, synced (wholly below the recovery point) and, with min.compaction.lag.ms,
        // holding no record newer than the lag (segment granularity, as Kafka).
        let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms.max(0));
        let mut cleanable = 0;
        while cleanable < last
            && st.segments[cleanable + 1].base_offset <= recovery_point
            && (config.min_compaction_lag_ms <= 0
                || st.segments[cleanable].max_timestamp <= lag_limit)
        {
            cleanable += 1;
        }
        let mut first_dirty = ckpt
            .first_dirty_offset
            .min(st.cleaner_floor)
            .max(st.log_start);
        if first_dirty > st.log_end() {
            first_dirty = st.log_start;
        }
        let dirty_from = all[..cleanable]
            .iter()
            .position(|s| s.next_offset > first_dirty)
            .unwrap_or(cleanable);
        let clean_bytes: u64 = all[..dirty_from].iter().map(|s| s.size).sum();
        let dirty_bytes: u64 = all[dirty_from..cleanable].iter().map(|s| s.size).sum();
        let dirty_ratio = if clean_bytes + dirty_bytes == 0 {
            0.0
        } else {
            dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64
        };
        // max.compaction.lag.ms: the oldest dirty record has waited too long.
        let max_lag_due = dirty_from < cleanable && {
            let seg = &st.segments[dirty_from];
            let ts = seg
                .first_batch_timestamp
                .filter(|&t| t >= 0)
                .unwrap_or(seg.max_timestamp);
            ts >= 0 && now_ms.saturating_sub(ts) > config.max_compaction_lag_ms
        };
        // A retained tombstone's delete horizon has passed: clean to remove it.
        let horizon_due = ckpt.delete_horizon_min_ms >= 0 && now_ms >= ckpt.delete_horizon_min_ms;
        let eligible = config.cleanup_policy.compacts()
            && cleanable > 0
            && ((dirty_bytes > 0
                && (dirty_ratio >= config.min_cleanable_dirty_ratio || max_lag_due))
                || horizon_due);
        CleanPlan {
            all,
            cleanable,
            dirty_from,
            dirty_ratio,
            eligible,
            config,
        }
    }

    /// The cleaner's dirty ratio now: bytes at or past the cleaner checkpoint / bytes in the
    /// closed segments it may clean (0 when there are none). For metrics.
    pub fn dirty_ratio(&self, now_ms: i64) -> f64 {
        let ckpt = *self.cleaner.lock();
        self.plan_cleaning(&ckpt, now_ms).dirty_ratio
    }

    /// Log compaction (Kafka's log cleaner), called periodically by the broker. Under
    /// `cleanup.policy` `compact` or `compact,delete`, when the dirty ratio reaches
    /// `min.cleanable.dirty.ratio` (or the oldest dirty record is older than
    /// `max.compaction.lag.ms`, or a kept tombstone's delete horizon has passed), rewrites
    /// the closed segments below the recovery point keeping only the latest record per key;
    /// offsets never change. Never touches the active segment or segments with records
    /// newer than `min.compaction.lag.ms`. Reads and appends run alongside; only the final
    /// swap takes the append lock. Crash-safe at every step (see FORMAT.md).
    pub fn compact(&self, now_ms: i64) -> Result<CompactionOutcome> {
        let mut ckpt = self.cleaner.lock();
        self.check_poisoned()?;
        let plan = self.plan_cleaning(&ckpt, now_ms);
        let mut outcome = CompactionOutcome {
            dirty_ratio: plan.dirty_ratio,
            first_dirty_offset: ckpt.first_dirty_offset,
            ..CompactionOutcome::default()
        };
        if !plan.eligible {
            return Ok(outcome);
        }

        // Key -> latest offset over the dirty section, whole segments, bounded.
        let mut map: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut map_bytes = 0usize;
        let mut clean_end = plan.cleanable;
        for i in plan.dirty_from..plan.cleanable {
            let s = &plan.all[i];
            for_each_stored_batch(s, |view| {
                if compact::is_untouchable(&view) {
                    return;
                }
                match compact::decode(&view) {
                    Ok(d) => map_bytes += compact::add_to_map(&view, &d, &mut map),
                    Err(e) => {
                        tracing::warn!(base_offset = view.base_offset(), error = %e.0, "undecodable batch; its keys are not compacted")
                    }
                }
            })?;
            if map_bytes > OFFSET_MAP_BYTES_MAX && i + 1 < plan.cleanable {
                clean_end = i + 1;
                break;
            }
        }
        // The last batch of each producer in the whole log keeps the producer's sequence.
        let mut producer_last: HashMap<i64, i64> = HashMap::new();
        for s in &plan.all {
            let end = scan(&s.file, &s.path, 0, s.size, false, |_, h, _| {
                if h.producer_id >= 0 {
                    producer_last.insert(h.producer_id, h.last_offset);
                }
                Step::Continue
            })?;
            if let Some(reason) = end.corrupt {
                return Err(corrupt(&s.path, end.position, reason));
            }
        }

        // Rewrite every segment of the clean range into `.cleaned` files.
        let mut cleaned: Vec<CleanedSegment> = Vec::new();
        let mut horizon_min = i64::MAX;
        let result = (|| -> Result<()> {
            for i in 0..clean_end {
                let s = &plan.all[i];
                let mut out: Vec<Vec<u8>> = Vec::new();
                let mut changed = false;
                for_each_stored_batch(s, |view| {
                    let keep_whole = |out: &mut Vec<Vec<u8>>| out.push(view.as_bytes().to_vec());
                    if compact::is_untouchable(&view) {
                        return keep_whole(&mut out);
                    }
                    let d = match compact::decode(&view) {
                        Ok(d) => d,
                        Err(_) => return keep_whole(&mut out),
                    };
                    let keep_if_empty = view.producer_id() >= 0
                        && producer_last.get(&view.producer_id()) == Some(&view.last_offset());
                    let r = compact::filter_batch(
                        &view,
                        &d,
                        &map,
                        now_ms,
                        plan.config.delete_retention_ms,
                        keep_if_empty,
                    );
                    outcome.records_removed += r.records_removed;
                    if let Some(h) = r.tombstone_horizon_ms {
                        horizon_min = horizon_min.min(h);
                    }
                    match r.filtered {
                        Filtered::Unchanged => keep_whole(&mut out),
                        Filtered::Dropped => changed = true,
                        Filtered::Rewritten(bytes) => {
                            changed = true;
                            out.push(bytes);
                        }
                    }
                })?;
                let after: u64 = out.iter().map(|b| b.len() as u64).sum();
                outcome.bytes_before += s.size;
                outcome.bytes_after += if changed { after } else { s.size };
                if changed {
                    self.write_cleaned(s.base_offset, &out, &plan.config, now_ms)?;
                    cleaned.push(CleanedSegment {
                        index: i,
                        base_offset: s.base_offset,
                    });
                }
            }
            if !cleaned.is_empty() {
                checkpoint::sync_dir(&self.dir)?;
            }
            Ok(())
        })();
        let roll_back = |cleaned: &[CleanedSegment]| {
            for c in cleaned {
                if let Err(e) = compact::remove_stage(&self.dir, c.base_offset, CLEANED_SUFFIX) {
                    tracing::warn!(error = %e, "cannot remove a cleaned file; open removes it");
                }
            }
        };
        if let Err(e) = result {
            // Also the segment whose write failed half-way.
            for s in &plan.all[..clean_end] {
                let _ = compact::remove_stage(&self.dir, s.base_offset, CLEANED_SUFFIX);
            }
            return Err(e);
        }

        if !cleaned.is_empty() {
            let _mutation = self.mutation.lock();
            self.check_poisoned()?;
            // Truncation or retention may have changed the segments meanwhile: abandon.
            let unchanged = {
                let st = self.state.read();
                let last = st.segments.len() - 1;
                cleaned.iter().all(|c| {
                    let snap = &plan.all[c.index];
                    st.segments[..last].iter().any(|seg| {
                        seg.base_offset == snap.base_offset
                            && Arc::ptr_eq(&seg.log, &snap.file)
                            && seg.size == snap.size
                    })
                })
            };
            if !unchanged {
                roll_back(&cleaned);
                tracing::info!("cleaner raced a truncation or retention; pass abandoned");
                return Ok(outcome);
            }
            let r = self.swap_in(&cleaned, now_ms);
            self.poison_on_error(r)?;
        }

        let first_dirty_offset = plan.all[clean_end].base_offset;
        let new_ckpt = CleanerCheckpoint {
            first_dirty_offset,
            delete_horizon_min_ms: if horizon_min == i64::MAX {
                -1
            } else {
                horizon_min
            },
        };
        new_ckpt.store(&self.dir)?;
        *ckpt = new_ckpt;
        {
            let mut st = self.state.write();
            st.cleaner_floor = i64::MAX;
        }
        outcome.cleaned = true;
        outcome.segments_rewritten = cleaned.len();
        outcome.first_dirty_offset = first_dirty_offset;
        tracing::info!(
            segments = cleaned.len(),
            records_removed = outcome.records_removed,
            bytes_before = outcome.bytes_before,
            bytes_after = outcome.bytes_after,
            first_dirty_offset,
            "cleaned log"
        );
        Ok(outcome)
    }

    /// Writes `<base>.log.cleaned` and its two indexes from `batches`, all synced.
    fn write_cleaned(
        &self,
        base: i64,
        batches: &[Vec<u8>],
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<()> {
        let [index_path, time_path, log_path] =
            compact::staged_paths(&self.dir, base, CLEANED_SUFFIX);
        let mut seg = Segment::create_at(
            log_path,
            &index_path,
            &time_path,
            base,
            config.segment_index_bytes,
            now_ms,
        )?;
        let mut pos = 0u64;
        let mut buf: Vec<u8> = Vec::new();
        for b in batches {
            let h = BatchHeader::parse(b)?;
            seg.note_batch(pos, &h, config.index_interval_bytes);
            pos += h.size;
            buf.extend_from_slice(b);
            if buf.len() >= 1 << 20 {
                let at = pos - buf.len() as u64;
                seg.log
                    .write_all_at(&buf, at)
                    .map_err(|e| io_err(&seg.log_path, e))?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            let at = pos - buf.len() as u64;
            seg.log
                .write_all_at(&buf, at)
                .map_err(|e| io_err(&seg.log_path, e))?;
        }
        seg.close()?;
        seg.sync_all()
    }

    /// Swaps cleaned segments in, oldest first: every `.cleaned` becomes `.swap` (the `.log`
    /// rename commits that segment), directory sync, then every `.swap` replaces the old
    /// files, directory sync; then the new segments are published. Caller holds `mutation`.
    fn swap_in(&self, cleaned: &[CleanedSegment], now_ms: i64) -> Result<()> {
        for c in cleaned {
            compact::rename_stage(&self.dir, c.base_offset, CLEANED_SUFFIX, SWAP_SUFFIX)?;
        }
        checkpoint::sync_dir(&self.dir)?;
        for c in cleaned {
            compact::rename_stage(&self.dir, c.base_offset, SWAP_SUFFIX, "")?;
        }
        checkpoint::sync_dir(&self.dir)?;
        let mut loaded = Vec::with_capacity(cleaned.len());
        for c in cleaned {
            let seg =
                recovery::load_trusted(&self.dir, c.base_offset, now_ms).map_err(|reason| {
                    StorageError::Corrupt {
                        path: self
                            .dir
                            .join(crate::segment::file_name(c.base_offset, ".log")),
                        reason: format!("cleaned segment does not load: {reason}"),
                    }
                })?;
            loaded.push(seg);
        }
        let mut st = self.state.write();
        for seg in loaded {
            if let Some(slot) = st
                .segments
                .iter_mut()
                .find(|s| s.base_offset == seg.base_offset)
            {
                *slot = seg;
            }
        }
        st.generation += 1;
        Ok(())
    }
}

/// Calls `f` with every batch of a segment snapshot (whole bytes).
fn for_each_stored_batch(
    s: &SegmentSnapshot,
    mut f: impl FnMut(RecordBatchView<'_>),
) -> Result<()> {
    let mut err = None;
    let end = scan(
        &s.file,
        &s.path,
        0,
        s.size,
        true,
        |_, _, bytes| match RecordBatchView::parse(bytes) {
            Ok(view) => {
                f(view);
                Step::Continue
            }
            Err(e) => {
                err = Some(e.to_string());
                Step::Stop
            }
        },
    )?;
    match err.or(end.corrupt) {
        Some(reason) => Err(corrupt(&s.path, end.position, reason)),
        None => Ok(()),
    }
}

fn corrupt(path: &Path, position: u64, reason: String) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("at position {position}: {reason}"),
    }
}
