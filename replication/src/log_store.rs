//! Raft log storage for one partition whose Raft log *is* the partition's storage log: data
//! entries are the record batches of the `PartitionLog`, and a small side file
//! (`raft-entries`, see `replication/FORMAT.md`) maps every Raft entry to its Kafka offsets and
//! holds the non-data entries (blank, membership), which take no Kafka offsets.
//!
//! Invariants: the entries in memory are contiguous by Raft index; the Kafka offsets of the
//! data entries are contiguous from the first entry's anchor to the log end; the append
//! callback fires only after both the side file and the partition log are durable
//! (`fdatasync`, group-committed by `PartitionLog::flush_to`); a crash leaves a prefix of both
//! files, and open reconciles them to their common prefix before serving.

// openraft's `StorageError` is the error type its traits require (~200 bytes); the helpers
// return it as is rather than box and unbox it on every call.
#![allow(clippy::result_large_err)]

use std::collections::VecDeque;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, StorageError,
    StorageIOError, Vote,
};
use parking_lot::Mutex;
use riffle_protocol::batch::RecordBatchView;
use riffle_storage::{sync_journal, Durability, LogConfig, PartitionLog};

use crate::types::PartitionRaft;
use crate::NodeId;

/// The side file holding one record per Raft entry (see `replication/FORMAT.md`).
pub const RAFT_ENTRIES_FILE: &str = "raft-entries";
/// The durable Raft vote of this replica (JSON, replaced atomically).
pub const RAFT_VOTE_FILE: &str = "raft-vote";

/// Bytes of a side-file record before its payload.
const RECORD_HEADER_BYTES: usize = 45;
/// The largest membership payload accepted when reading the side file.
const RECORD_PAYLOAD_BYTES_MAX: u32 = 1 << 20;

const KIND_BLANK: u8 = 0;
const KIND_DATA: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;
const KIND_PURGED: u8 = 3;

type SError = StorageError<NodeId>;

/// Errors opening a partition's Raft log.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Storage(#[from] riffle_storage::StorageError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The side file and the partition log disagree in a way a crash cannot explain.
    #[error("corrupt Raft log in {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// What a Raft entry is, with its Kafka offsets.
#[derive(Debug, Clone)]
enum EntryKind {
    Blank,
    /// One record batch: `[base_offset, last_offset]`.
    Data {
        base_offset: i64,
        last_offset: i64,
        /// The batch's size as written (bounds reads to exactly the batches wanted).
        size_bytes: u32,
    },
    Membership(Membership<NodeId, BasicNode>),
}

/// One Raft entry as held in memory (data bytes stay in the partition log).
#[derive(Debug, Clone)]
struct EntryMeta {
    log_id: LogId<NodeId>,
    kind: EntryKind,
    /// The Kafka log end before this entry (= its base offset for data entries).
    kafka_start: i64,
    /// Byte position of its record in the side file.
    file_pos: u64,
}

impl EntryMeta {
    /// The Kafka log end after this entry.
    fn kafka_end(&self) -> i64 {
        match self.kind {
            EntryKind::Data { last_offset, .. } => last_offset + 1,
            _ => self.kafka_start,
        }
    }
}

struct IndexState {
    entries: VecDeque<EntryMeta>,
    last_purged: Option<LogId<NodeId>>,
    /// Kafka log end right after the last purged entry (anchor when `entries` is empty).
    purged_kafka_end: i64,
    file: Arc<File>,
    file_len: u64,
}

impl IndexState {
    fn last_log_id(&self) -> Option<LogId<NodeId>> {
        self.entries.back().map(|e| e.log_id).or(self.last_purged)
    }
    fn next_index(&self) -> u64 {
        self.last_log_id().map_or(0, |l| l.index + 1)
    }
    fn kafka_end(&self) -> i64 {
        self.entries
            .back()
            .map_or(self.purged_kafka_end, EntryMeta::kafka_end)
    }
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }
    fn position(&self, index: u64) -> Option<usize> {
        let first = self.first_index()?;
        let pos = index.checked_sub(first)? as usize;
        (pos < self.entries.len()).then_some(pos)
    }
}

struct Shared {
    dir: PathBuf,
    log: Arc<PartitionLog>,
    index: Mutex<IndexState>,
    /// Serialises vote writes (openraft serialises them already; this keeps the tmp file safe).
    vote: Mutex<()>,
    /// Appends waiting for durability, in order, to the flusher thread.
    flush_queue: Mutex<std::sync::mpsc::SyncSender<FlushRequest>>,
}

/// Appends whose durability the flusher has not confirmed yet (a full queue makes `append`
/// wait).
pub const FLUSH_QUEUE_APPENDS_MAX: usize = 4096;

/// One append waiting to be made durable.
struct FlushRequest {
    kafka_end: i64,
    file: Arc<File>,
    callback: LogFlushed<PartitionRaft>,
}

/// The flusher: one thread per partition store. Takes every append queued so far, makes them
/// durable with one `fdatasync` of the side file and one group-committed `flush_to`, then
/// completes their callbacks in order. Ends when the store is dropped.
fn run_flusher(log: Arc<PartitionLog>, rx: std::sync::mpsc::Receiver<FlushRequest>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let kafka_end = batch.iter().map(|r| r.kafka_end).max().unwrap_or(0);
        let mut result: Result<(), String> = Ok(());
        if log.config().durability == Durability::Fsync {
            // Normally one side file; a purge in between replaces it.
            let mut synced: Vec<*const File> = Vec::new();
            for r in &batch {
                let key = Arc::as_ptr(&r.file);
                if !synced.contains(&key) {
                    synced.push(key);
                    if let Err(e) = sync_journal::sync_data(&r.file) {
                        result = Err(format!("fdatasync of {RAFT_ENTRIES_FILE}: {e}"));
                    }
                }
            }
        }
        if result.is_ok() {
            result = log.flush_to(kafka_end).map_err(|e| e.to_string());
        }
        for r in batch {
            r.callback
                .log_io_completed(result.clone().map_err(std::io::Error::other));
        }
    }
}

/// The Raft log storage of one partition replica (openraft `RaftLogStorage`, storage v2).
#[derive(Clone)]
pub struct PartitionLogStore {
    shared: Arc<Shared>,
}

/// A read handle for replication tasks (openraft `RaftLogReader`).
#[derive(Clone)]
pub struct PartitionLogReader {
    shared: Arc<Shared>,
}

fn io_err(path: &Path, source: std::io::Error) -> OpenError {
    OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

/// Encodes one side-file record (layout in `replication/FORMAT.md`).
fn encode_record(
    out: &mut Vec<u8>,
    kind: u8,
    log_id: LogId<NodeId>,
    kafka_start: i64,
    kafka_last: i64,
    size_bytes: u32,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&log_id.index.to_be_bytes());
    out.extend_from_slice(&log_id.leader_id.term.to_be_bytes());
    out.extend_from_slice(&kafka_start.to_be_bytes());
    out.extend_from_slice(&kafka_last.to_be_bytes());
    out.extend_from_slice(&size_bytes.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_be_bytes());
}

fn encode_meta(out: &mut Vec<u8>, meta: &EntryMeta) -> Result<(), serde_json::Error> {
    match &meta.kind {
        EntryKind::Blank => encode_record(
            out,
            KIND_BLANK,
            meta.log_id,
            meta.kafka_start,
            meta.kafka_start - 1,
            0,
            &[],
        ),
        EntryKind::Data {
            base_offset,
            last_offset,
            size_bytes,
        } => encode_record(
            out,
            KIND_DATA,
            meta.log_id,
            *base_offset,
            *last_offset,
            *size_bytes,
            &[],
        ),
        EntryKind::Membership(m) => encode_record(
            out,
            KIND_MEMBERSHIP,
            meta.log_id,
            meta.kafka_start,
            meta.kafka_start - 1,
            0,
            &serde_json::to_vec(m)?,
        ),
    }
    Ok(())
}

/// One decoded side-file record.
struct Record {
    kind: u8,
    log_id: LogId<NodeId>,
    kafka_start: i64,
    kafka_last: i64,
    size_bytes: u32,
    payload: Vec<u8>,
    len: usize,
}

/// Decodes the record at the start of `buf`; `None` when it is incomplete or fails its CRC
/// (a torn tail).
fn decode_record(buf: &[u8]) -> Option<Record> {
    let header = buf.get(..RECORD_HEADER_BYTES)?;
    let u32_at =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let crc = u32_at(0);
    let payload_len = u32_at(4);
    if payload_len > RECORD_PAYLOAD_BYTES_MAX {
        return None;
    }
    let len = RECORD_HEADER_BYTES + payload_len as usize;
    let whole = buf.get(..len)?;
    if crc32c::crc32c(&whole[4..]) != crc {
        return None;
    }
    Some(Record {
        kind: header[8],
        log_id: log_id(u64_at(17), u64_at(9)),
        kafka_start: u64_at(25) as i64,
        kafka_last: u64_at(33) as i64,
        size_bytes: u32_at(41),
        payload: whole[RECORD_HEADER_BYTES..].to_vec(),
        len,
    })
}

impl PartitionLogStore {
    /// Opens (creating if needed) the partition log in `dir` and its Raft side file, and
    /// reconciles them after a crash: both are cut to their common prefix (nothing cut was
    /// ever acknowledged, because the append callback waits for both to be durable).
    ///
    /// Refuses a partition log that holds data but has no side file (a single-node log is
    /// never silently truncated into a replica).
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self, OpenError> {
        let dir = dir.as_ref().to_path_buf();
        let log = Arc::new(PartitionLog::open(&dir, config)?);
        let path = dir.join(RAFT_ENTRIES_FILE);
        let existed = path.exists();
        if !existed && log.log_end_offset() != log.log_start_offset() {
            return Err(OpenError::Corrupt {
                path,
                reason: "the partition log holds batches but there is no Raft entry file".into(),
            });
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if !existed {
            sync_dir(&dir).map_err(|e| io_err(&dir, e))?;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| io_err(&path, e))?;

        let kafka_log_end = log.log_end_offset();
        let mut entries: VecDeque<EntryMeta> = VecDeque::new();
        let mut last_purged = None;
        let mut purged_kafka_end = log.log_start_offset();
        let mut pos = 0usize;
        let mut kept_len = 0usize;
        let corrupt = |reason: String| OpenError::Corrupt {
            path: path.clone(),
            reason,
        };
        while let Some(rec) = decode_record(&bytes[pos..]) {
            let next_index = entries
                .back()
                .map(|e| e.log_id.index + 1)
                .or(last_purged.map(|l: LogId<NodeId>| l.index + 1));
            let kafka_end = entries
                .back()
                .map_or(purged_kafka_end, EntryMeta::kafka_end);
            if rec.kind == KIND_PURGED {
                if pos != 0 {
                    return Err(corrupt(format!("purge record at byte {pos}")));
                }
                last_purged = Some(rec.log_id);
                purged_kafka_end = rec.kafka_start;
            } else {
                if next_index.is_some_and(|n| n != rec.log_id.index) {
                    return Err(corrupt(format!(
                        "Raft index {} follows {:?}",
                        rec.log_id.index, next_index
                    )));
                }
                if (!entries.is_empty() || last_purged.is_some()) && rec.kafka_start != kafka_end {
                    return Err(corrupt(format!(
                        "entry {} starts at Kafka offset {} but the previous entry ends at {}",
                        rec.log_id.index, rec.kafka_start, kafka_end
                    )));
                }
                let kind = match rec.kind {
                    KIND_BLANK => EntryKind::Blank,
                    KIND_DATA => {
                        if rec.kafka_last < rec.kafka_start {
                            return Err(corrupt(format!("empty data entry {}", rec.log_id.index)));
                        }
                        // Written but not durable in the partition log: the common prefix
                        // ends here.
                        if rec.kafka_last >= kafka_log_end {
                            break;
                        }
                        EntryKind::Data {
                            base_offset: rec.kafka_start,
                            last_offset: rec.kafka_last,
                            size_bytes: rec.size_bytes,
                        }
                    }
                    KIND_MEMBERSHIP => EntryKind::Membership(
                        serde_json::from_slice(&rec.payload)
                            .map_err(|e| corrupt(format!("membership entry: {e}")))?,
                    ),
                    k => return Err(corrupt(format!("unknown entry kind {k}"))),
                };
                if rec.kafka_start > kafka_log_end {
                    break;
                }
                entries.push_back(EntryMeta {
                    log_id: rec.log_id,
                    kind,
                    kafka_start: rec.kafka_start,
                    file_pos: pos as u64,
                });
            }
            pos += rec.len;
            kept_len = pos;
        }
        if kept_len < bytes.len() {
            tracing::info!(
                dir = %dir.display(),
                kept_len,
                len = bytes.len(),
                "cutting the Raft entry file to its durable prefix"
            );
            file.set_len(kept_len as u64)
                .and_then(|_| sync_journal::sync_data(&file))
                .map_err(|e| io_err(&path, e))?;
        }
        let kafka_end = entries
            .back()
            .map_or(purged_kafka_end, EntryMeta::kafka_end);
        if kafka_log_end > kafka_end {
            tracing::info!(
                dir = %dir.display(),
                kafka_end,
                kafka_log_end,
                "cutting partition log batches that have no Raft entry"
            );
            log.truncate_to(kafka_end)?;
        }
        if kafka_end > log.log_end_offset() {
            return Err(corrupt(format!(
                "Raft entries end at Kafka offset {kafka_end}, past the log end {}",
                log.log_end_offset()
            )));
        }
        let index = IndexState {
            entries,
            last_purged,
            purged_kafka_end,
            file: Arc::new(file),
            file_len: kept_len as u64,
        };
        let (flush_tx, flush_rx) = std::sync::mpsc::sync_channel(FLUSH_QUEUE_APPENDS_MAX);
        let flusher_log = log.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || run_flusher(flusher_log, flush_rx))
            .map_err(|e| io_err(&dir, e))?;
        Ok(PartitionLogStore {
            shared: Arc::new(Shared {
                dir,
                log,
                index: Mutex::new(index),
                vote: Mutex::new(()),
                flush_queue: Mutex::new(flush_tx),
            }),
        })
    }

    /// The partition log (for Fetch, ListOffsets, retention: never append to it directly).
    pub fn partition_log(&self) -> &Arc<PartitionLog> {
        &self.shared.log
    }

    /// The Kafka offset range `[base, last]` of the data entry at Raft `index`, if it is one.
    pub fn kafka_offsets_of(&self, index: u64) -> Option<(i64, i64)> {
        let ix = self.shared.index.lock();
        let pos = ix.position(index)?;
        match ix.entries[pos].kind {
            EntryKind::Data {
                base_offset,
                last_offset,
                ..
            } => Some((base_offset, last_offset)),
            _ => None,
        }
    }

    /// The Kafka log end right after Raft entry `index` (the high watermark once `index` is
    /// committed). `None` if the entry is not held.
    pub fn kafka_end_after(&self, index: u64) -> Option<i64> {
        let ix = self.shared.index.lock();
        let pos = ix.position(index)?;
        Some(ix.entries[pos].kafka_end())
    }

    /// Writes the entries to the partition log and the side file; returns the Kafka end to
    /// flush to and the side file to sync. Readable on return, not yet durable.
    fn write_entries(
        &self,
        entries: Vec<Entry<PartitionRaft>>,
    ) -> Result<(i64, Arc<File>), StorageIOError<NodeId>> {
        let sh = &self.shared;
        let mut ix = sh.index.lock();
        let start = ix.kafka_end();
        let r = self.write_entries_locked(&mut ix, entries);
        if r.is_err() && sh.log.log_end_offset() > start {
            // Batches of this call without records: take them back so the partition log and
            // the side file agree (open would cut them too).
            if let Err(e) = sh.log.truncate_to(start) {
                tracing::error!(error = %e, "could not take back batches of a failed append");
            }
        }
        r
    }

    fn write_entries_locked(
        &self,
        ix: &mut IndexState,
        entries: Vec<Entry<PartitionRaft>>,
    ) -> Result<(i64, Arc<File>), StorageIOError<NodeId>> {
        let sh = &self.shared;
        let mut buf = Vec::new();
        let mut metas = Vec::new();
        let mut kafka_end = ix.kafka_end();
        let first_index = ix.next_index();
        let now = now_ms();
        for (next_index, entry) in (first_index..).zip(entries) {
            let id = entry.log_id;
            if id.index != next_index {
                return Err(StorageIOError::write_log_entry(
                    id,
                    crate::any_err(format!(
                        "append of Raft index {} would leave a hole after {}",
                        id.index,
                        next_index.wrapping_sub(1)
                    )),
                ));
            }
            let kind = match entry.payload {
                EntryPayload::Blank => EntryKind::Blank,
                EntryPayload::Membership(m) => EntryKind::Membership(m),
                EntryPayload::Normal(mut batch) => {
                    let epoch = i32::try_from(id.leader_id.term).map_err(|_| {
                        StorageIOError::write_log_entry(
                            id,
                            crate::any_err("Raft term exceeds the i32 leader epoch"),
                        )
                    })?;
                    check_one_batch(&batch)
                        .map_err(|e| StorageIOError::write_log_entry(id, crate::any_err(e)))?;
                    let info = sh
                        .log
                        .append(&mut batch, epoch, now)
                        .map_err(|e| StorageIOError::write_log_entry(id, &e))?;
                    // Offsets are a pure function of the log prefix: the log end the side
                    // file expects is the one the partition log assigned.
                    assert_eq!(
                        info.base_offset, kafka_end,
                        "partition log end moved under the Raft log store"
                    );
                    EntryKind::Data {
                        base_offset: info.base_offset,
                        last_offset: info.last_offset,
                        size_bytes: batch.len() as u32,
                    }
                }
            };
            let meta = EntryMeta {
                log_id: id,
                kind,
                kafka_start: kafka_end,
                file_pos: ix.file_len + buf.len() as u64,
            };
            encode_meta(&mut buf, &meta).map_err(|e| StorageIOError::write_log_entry(id, &e))?;
            kafka_end = meta.kafka_end();
            metas.push(meta);
        }
        ix.file
            .write_all_at(&buf, ix.file_len)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        ix.file_len += buf.len() as u64;
        ix.entries.extend(metas);
        Ok((kafka_end, ix.file.clone()))
    }

    fn truncate_blocking(&self, from: LogId<NodeId>) -> Result<(), StorageIOError<NodeId>> {
        let sh = &self.shared;
        let mut ix = sh.index.lock();
        if ix.last_purged.is_some_and(|p| p.index >= from.index) {
            return Err(StorageIOError::write_logs(crate::any_err(format!(
                "truncate at {} reaches purged entries",
                from.index
            ))));
        }
        let Some(pos) = ix.position(from.index) else {
            return Ok(());
        };
        let (file_pos, kafka_cut) = (ix.entries[pos].file_pos, ix.entries[pos].kafka_start);
        // Side file first: a crash between the two leaves batches without entries, which
        // open cuts. So the log never has a hole.
        ix.file
            .set_len(file_pos)
            .and_then(|_| sync_journal::sync_data(&ix.file))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        ix.file_len = file_pos;
        ix.entries.truncate(pos);
        sh.log
            .truncate_to(kafka_cut)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        tracing::info!(dir = %sh.dir.display(), index = from.index, kafka_cut, "truncated Raft log");
        Ok(())
    }

    fn purge_blocking(&self, upto: LogId<NodeId>) -> Result<(), StorageIOError<NodeId>> {
        let sh = &self.shared;
        let mut ix = sh.index.lock();
        if ix.last_purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        let kafka_end = match ix.position(upto.index) {
            Some(pos) => ix.entries[pos].kafka_end(),
            None => ix.kafka_end(),
        };
        let keep_from = ix
            .first_index()
            .map_or(0, |first| (upto.index + 1).saturating_sub(first) as usize)
            .min(ix.entries.len());
        ix.entries.drain(..keep_from);
        ix.last_purged = Some(upto);
        ix.purged_kafka_end = kafka_end;
        // Rewrite the side file: a purge record, then the entries still held.
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            KIND_PURGED,
            upto,
            kafka_end,
            kafka_end - 1,
            0,
            &[],
        );
        let mut rewritten = Vec::with_capacity(ix.entries.len());
        for meta in &ix.entries {
            let mut m = meta.clone();
            m.file_pos = buf.len() as u64;
            encode_meta(&mut buf, &m).map_err(|e| StorageIOError::write_logs(&e))?;
            rewritten.push(m);
        }
        let path = sh.dir.join(RAFT_ENTRIES_FILE);
        let tmp = sh.dir.join(format!("{RAFT_ENTRIES_FILE}.tmp"));
        let file = write_replace(&sh.dir, &tmp, &path, &buf)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        ix.entries = rewritten.into();
        ix.file = Arc::new(file);
        ix.file_len = buf.len() as u64;
        Ok(())
    }
}

/// Checks that `bytes` is exactly one v2 record batch.
pub fn check_one_batch(bytes: &[u8]) -> Result<(), String> {
    let view = RecordBatchView::parse(bytes).map_err(|e| e.to_string())?;
    if view.size_bytes() != bytes.len() {
        return Err(format!(
            "a data entry is one record batch: {} bytes after the first batch",
            bytes.len() - view.size_bytes()
        ));
    }
    Ok(())
}

/// Writes `bytes` to `tmp`, syncs, renames over `path`, syncs the directory; returns the file
/// opened for further writes.
fn write_replace(dir: &Path, tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        sync_journal::sync_data(&f)?;
    }
    std::fs::rename(tmp, path)?;
    sync_dir(dir)?;
    OpenOptions::new().read(true).write(true).open(path)
}

fn blocking_err(e: tokio::task::JoinError) -> SError {
    StorageIOError::write_logs(crate::any_err(e)).into()
}

impl RaftLogReader<PartitionRaft> for PartitionLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<PartitionRaft>>, SError> {
        let sh = self.shared.clone();
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        tokio::task::spawn_blocking(move || read_entries(&sh, range))
            .await
            .map_err(blocking_err)?
    }
}

impl RaftLogReader<PartitionRaft> for PartitionLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<PartitionRaft>>, SError> {
        let sh = self.shared.clone();
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        tokio::task::spawn_blocking(move || read_entries(&sh, range))
            .await
            .map_err(blocking_err)?
    }
}

/// Reads the entries in `range` that are held: non-data entries from memory, data entries'
/// batches from the partition log in one read.
fn read_entries<RB: RangeBounds<u64>>(
    sh: &Shared,
    range: RB,
) -> Result<Vec<Entry<PartitionRaft>>, SError> {
    let ix = sh.index.lock();
    let Some(first) = ix.first_index() else {
        return Ok(Vec::new());
    };
    let last = first + ix.entries.len() as u64 - 1;
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => first,
    }
    .max(first);
    let end = match range.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => match e.checked_sub(1) {
            Some(e) => e,
            None => return Ok(Vec::new()),
        },
        Bound::Unbounded => last,
    }
    .min(last);
    if start > end {
        return Ok(Vec::new());
    }
    let metas: Vec<EntryMeta> = ix
        .entries
        .range((start - first) as usize..=(end - first) as usize)
        .cloned()
        .collect();
    // The batches of the data entries, in one read while the index lock keeps truncation out.
    let mut read_bytes: u64 = 0;
    let data: Vec<(i64, i64)> = metas
        .iter()
        .filter_map(|m| match m.kind {
            EntryKind::Data {
                base_offset,
                last_offset,
                size_bytes,
            } => {
                read_bytes += size_bytes as u64;
                Some((base_offset, last_offset))
            }
            _ => None,
        })
        .collect();
    let mut batches: VecDeque<Vec<u8>> = VecDeque::new();
    if let (Some(&(from, _)), Some(&(_, to))) = (data.first(), data.last()) {
        let read = sh
            .log
            .read(from, read_bytes.min(u32::MAX as u64) as u32, to + 1)
            .map_err(|e| StorageIOError::read_log_at_index(start, &e))?;
        let mut bytes: &[u8] = &read.bytes;
        for &(base, lastoff) in &data {
            let view = RecordBatchView::parse(bytes)
                .map_err(|e| StorageIOError::read_log_at_index(start, &e))?;
            if view.base_offset() != base || view.last_offset() != lastoff {
                return Err(StorageIOError::read_log_at_index(
                    start,
                    crate::any_err(format!(
                        "batch [{}, {}] in the log where the Raft entry expects [{base}, {lastoff}] \
                         (removed by retention or compaction?)",
                        view.base_offset(),
                        view.last_offset()
                    )),
                )
                .into());
            }
            let size = view.size_bytes();
            batches.push_back(bytes[..size].to_vec());
            bytes = &bytes[size..];
        }
    }
    drop(ix);
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        let payload = match m.kind {
            EntryKind::Blank => EntryPayload::Blank,
            EntryKind::Membership(ms) => EntryPayload::Membership(ms),
            EntryKind::Data { .. } => match batches.pop_front() {
                Some(b) => EntryPayload::Normal(b),
                None => {
                    return Err(StorageIOError::read_log_at_index(
                        m.log_id.index,
                        crate::any_err("missing batch"),
                    )
                    .into())
                }
            },
        };
        out.push(Entry {
            log_id: m.log_id,
            payload,
        });
    }
    Ok(out)
}

impl RaftLogStorage<PartitionRaft> for PartitionLogStore {
    type LogReader = PartitionLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<PartitionRaft>, SError> {
        let ix = self.shared.index.lock();
        Ok(LogState {
            last_purged_log_id: ix.last_purged,
            last_log_id: ix.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        PartitionLogReader {
            shared: self.shared.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SError> {
        let sh = self.shared.clone();
        let bytes = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        tokio::task::spawn_blocking(move || {
            let _g = sh.vote.lock();
            let path = sh.dir.join(RAFT_VOTE_FILE);
            let tmp = sh.dir.join(format!("{RAFT_VOTE_FILE}.tmp"));
            write_replace(&sh.dir, &tmp, &path, &bytes).map(drop)
        })
        .await
        .map_err(blocking_err)?
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SError> {
        let path = self.shared.dir.join(RAFT_VOTE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageIOError::read_vote(&e).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageIOError::read_vote(&e).into()),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<PartitionRaft>,
    ) -> Result<(), SError>
    where
        I: IntoIterator<Item = Entry<PartitionRaft>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let this = self.clone();
        // Write on the blocking pool and return once the entries are readable; the flusher
        // thread calls back once the side file and the partition log are durable, so the Raft
        // core never waits for an fdatasync. Writes stay serialised because openraft awaits
        // this call before its next storage call; callbacks complete in append order.
        tokio::task::spawn_blocking(move || {
            let (kafka_end, file) = this.write_entries(entries)?;
            let queue = this.shared.flush_queue.lock().clone();
            queue
                .send(FlushRequest {
                    kafka_end,
                    file,
                    callback,
                })
                .map_err(|_| StorageIOError::write_logs(crate::any_err("the flusher stopped")))
        })
        .await
        .map_err(blocking_err)?
        .map_err(Into::into)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.truncate_blocking(log_id))
            .await
            .map_err(blocking_err)?
            .map_err(Into::into)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.purge_blocking(log_id))
            .await
            .map_err(blocking_err)?
            .map_err(Into::into)
    }
}
