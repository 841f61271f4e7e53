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
use crate::epoch::LeaderEpochCache;
use crate::recovery;
use crate::segment::{cut_batches, scan, BatchHeader, Segment, Step};
use crate::{AppendInfo, Durability, LogConfig, ReadResult, Result, StorageError};

struct LogState {
    /// Sorted by base offset; never empty; the last is the active segment.
    segments: Vec<Segment>,
    log_start: i64,
    epochs: LeaderEpochCache,
    config: LogConfig,
    /// Bumped by every truncation, so lock-free reads can detect that they raced one.
    generation: u64,
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
            f.sync_data().map_err(|e| io_err(&self.dir, e))?;
        }
        active.sync_data().map_err(|e| io_err(active_path, e))?;
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
        log.sync_data().map_err(|e| io_err(&path, e))?;
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
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        let _mutation = self.mutation.lock();
        self.check_poisoned()?;
        let (n, roll) = {
            let st = self.state.read();
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
