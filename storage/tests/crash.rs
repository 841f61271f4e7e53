//! Crash consistency: unsynced writes lost, torn tails, corrupt bytes. Recovery must cut
//! the log at the first bad byte and never serve anything past it.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;
use riffle_storage::{LogConfig, PartitionLog, StorageError};

fn fill(log: &PartitionLog, n: usize, records: i32, payload: usize) {
    for _ in 0..n {
        let mut b = batch(records, 1, payload);
        log.append(&mut b, 1, 1).unwrap();
    }
}

#[test]
fn writes_after_the_last_sync_are_lost_and_the_log_reopens_at_the_synced_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 10, 2, 600); // several segments
    log.flush_to(log.log_end_offset()).unwrap();
    let synced_end = log.log_end_offset();
    let synced = snapshot_lengths(dir.path());
    let before = log.read(0, u32::MAX, i64::MAX).unwrap().bytes;
    fill(&log, 10, 2, 600); // rolls again; never synced
    let mut b = batch(1, 1, 10);
    log.append(&mut b, 9, 1).unwrap(); // a new epoch, checkpointed but its data lost
    drop(log);
    lose_unsynced_log_writes(dir.path(), &synced);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), synced_end);
    assert_eq!(log.read(0, u32::MAX, i64::MAX).unwrap().bytes, before);
    assert_eq!(log.end_offset_for_epoch(9), Some((1, synced_end)));
    fill(&log, 3, 2, 600);
    assert_eq!(log.log_end_offset(), synced_end + 6);
}

#[test]
fn a_crash_between_roll_and_sync_cuts_the_older_unsynced_segment_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 2, 1, 600);
    log.flush_to(2).unwrap();
    let synced = snapshot_lengths(dir.path());
    fill(&log, 12, 1, 600); // fills segment 0 and rolls twice, nothing synced
    drop(log);
    lose_unsynced_log_writes(dir.path(), &synced);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.log_end_offset(), log.segment_count()), (2, 1));
}

#[test]
fn a_torn_final_batch_is_cut_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 3, 2, 100);
    drop(log);
    let last = log_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    // Half of a new batch: a valid header prefix, then nothing.
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    let mut torn = batch(2, 1, 500);
    torn[0..8].copy_from_slice(&6i64.to_be_bytes());
    f.write_all(&torn[..200]).unwrap();
    drop(f);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(fs::metadata(&last).unwrap().len(), len);
    drop(log);
    // Garbage after the last batch.
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&[0x5a; 333]).unwrap();
    drop(f);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(
        split(&log.read(0, u32::MAX, i64::MAX).unwrap().bytes).len(),
        3
    );
    // Zeroes (a preallocated or unwritten tail).
    drop(log);
    let f = OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len + 4096).unwrap();
    drop(f);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    let mut b = batch(1, 1, 10);
    assert_eq!(log.append(&mut b, 1, 1).unwrap().base_offset, 6);
}

#[test]
fn a_corrupt_byte_in_the_tail_batch_cuts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 5, 2, 100); // 161 bytes each: 0..10
    drop(log);
    let last = log_files(dir.path()).pop().unwrap();
    let mut data = fs::read(&last).unwrap();
    data[161 * 3 + 100] ^= 0x01; // inside the records of the 4th batch (offsets 6..8)
    fs::write(&last, &data).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.log_end_offset(),
        6,
        "cut at the corrupt batch; the good one after goes too"
    );
    let got = split(&log.read(0, u32::MAX, i64::MAX).unwrap().bytes);
    assert_eq!(got.len(), 3);
    assert!(matches!(
        log.read(7, 100, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(fs::metadata(&last).unwrap().len(), 161 * 3);
}

#[test]
fn a_corrupt_batch_in_a_closed_segment_with_a_damaged_index_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        LogConfig {
            index_interval_bytes: 64,
            ..config()
        },
    )
    .unwrap();
    fill(&log, 20, 1, 900); // 961-byte batches, 4 per segment
    log.flush_to(20).unwrap();
    drop(log);
    let logs = log_files(dir.path());
    let mut data = fs::read(&logs[1]).unwrap();
    data[961 * 2 + 500] ^= 0xff; // offset 6
    fs::write(&logs[1], &data).unwrap();
    fs::remove_file(files_with_ext(dir.path(), "index")[1].clone()).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.log_end_offset(), log.segment_count()), (6, 2));
    assert_eq!(log_files(dir.path()).len(), 2);
    let got = split(&log.read(0, u32::MAX, i64::MAX).unwrap().bytes);
    assert_eq!(got.last().unwrap().1, 5);
}

#[test]
fn a_lost_log_start_segment_falls_back_to_an_empty_log_at_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 5, 2, 100);
    let synced = snapshot_lengths(dir.path()); // nothing flushed yet
    let _ = synced;
    log.delete_records_before(8).unwrap(); // checkpoint durable
    drop(log);
    // Lose the log data but keep the checkpoint.
    let last = log_files(dir.path()).pop().unwrap();
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(161)
        .unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (8, 8));
    let mut b = batch(1, 1, 10);
    assert_eq!(log.append(&mut b, 1, 1).unwrap().base_offset, 8);
}
