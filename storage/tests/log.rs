//! Behaviour of `PartitionLog`: append, read, roll, retention, truncation, DeleteRecords,
//! leader epochs, indexes and concurrency.

mod common;

use std::fs;
use std::sync::Arc;

use common::*;
use riffle_storage::{Durability, LogConfig, PartitionLog, StorageError};

fn append(log: &PartitionLog, records: i32, ts: i64, payload: usize) -> riffle_storage::AppendInfo {
    let mut b = batch(records, ts, payload);
    log.append(&mut b, 0, ts).unwrap()
}

#[test]
fn append_assigns_consecutive_offsets_and_patches_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    let mut two = batch(3, 10, 20);
    two.extend(batch(2, 30, 20));
    let info = log.append(&mut two, 7, 100).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.log_end_offset),
        (0, 4, 5)
    );
    assert_eq!(info.max_timestamp, 30);
    let info = append(&log, 1, 40, 10);
    assert_eq!((info.base_offset, info.last_offset), (5, 5));
    let r = log.read(0, u32::MAX, i64::MAX).unwrap();
    let batches = split(&r.bytes);
    let bounds: Vec<(i64, i64)> = batches.iter().map(|b| (b.0, b.1)).collect();
    assert_eq!(bounds, vec![(0, 2), (3, 4), (5, 5)]);
    let view = riffle_protocol::batch::RecordBatchView::parse(&batches[0].2).unwrap();
    assert_eq!(view.partition_leader_epoch(), 7);
    assert_eq!((r.log_start_offset, r.log_end_offset), (0, 6));
    assert_eq!(
        &two[..],
        &r.bytes[..two.len()],
        "append patches the caller's buffer in place"
    );
}

#[test]
fn append_rejects_empty_and_malformed_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(matches!(
        log.append(&mut [], 0, 0),
        Err(StorageError::InvalidBatch(_))
    ));
    let mut torn = batch(1, 0, 50);
    torn.truncate(70);
    assert!(matches!(
        log.append(&mut torn, 0, 0),
        Err(StorageError::InvalidBatch(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn read_at_offset_inside_batch_returns_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for _ in 0..20 {
        append(&log, 5, 1, 100);
    }
    for offset in [0, 3, 57, 99] {
        let r = log.read(offset, 1, i64::MAX).unwrap();
        let b = split(&r.bytes);
        assert_eq!(b.len(), 1);
        assert!(
            b[0].0 <= offset && offset <= b[0].1,
            "offset {offset} in {:?}",
            (b[0].0, b[0].1)
        );
    }
}

#[test]
fn read_returns_one_batch_even_if_larger_than_max_bytes_then_respects_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    append(&log, 1, 1, 1000);
    append(&log, 1, 1, 10);
    append(&log, 1, 1, 10);
    let r = log.read(0, 10, i64::MAX).unwrap();
    assert_eq!(split(&r.bytes).len(), 1);
    let one = 61 + 1000;
    let r = log.read(0, (one + 71) as u32, i64::MAX).unwrap();
    assert_eq!(split(&r.bytes).len(), 2);
    let r = log.read(0, (one + 71 + 70) as u32, i64::MAX).unwrap();
    assert_eq!(
        split(&r.bytes).len(),
        2,
        "a batch that does not fit entirely is left out"
    );
}

#[test]
fn read_never_includes_a_batch_reaching_max_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for _ in 0..4 {
        append(&log, 2, 1, 10); // 0-1, 2-3, 4-5, 6-7
    }
    let last = |r: &riffle_storage::ReadResult| split(&r.bytes).last().map(|b| b.1);
    assert_eq!(last(&log.read(0, u32::MAX, 6).unwrap()), Some(5));
    assert_eq!(last(&log.read(0, u32::MAX, 5).unwrap()), Some(3));
    assert!(log.read(4, u32::MAX, 5).unwrap().bytes.is_empty());
    assert!(log.read(2, u32::MAX, 2).unwrap().bytes.is_empty());
}

#[test]
fn read_outside_log_is_offset_out_of_range_and_at_end_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    append(&log, 3, 1, 10);
    assert!(log.read(3, 100, i64::MAX).unwrap().bytes.is_empty());
    assert!(matches!(
        log.read(4, 100, i64::MAX),
        Err(StorageError::OffsetOutOfRange {
            offset: 4,
            log_start_offset: 0,
            log_end_offset: 3
        })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_by_bytes_and_reads_span_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap(); // segment.bytes 4096
    for _ in 0..10 {
        append(&log, 1, 1, 1000 - 61); // 1000-byte batches: 4 per segment
    }
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log_files(dir.path()).len(), 3);
    assert_eq!(
        log_files(dir.path())[1]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
        "00000000000000000004.log"
    );
    assert_eq!(log.size_bytes(), 10_000);
    let r = log.read(0, u32::MAX, i64::MAX).unwrap();
    assert_eq!(split(&r.bytes).len(), 10);
    let r = log.read(3, 2500, i64::MAX).unwrap();
    let b = split(&r.bytes);
    assert_eq!((b.len(), b[0].0), (2, 3));
    // A rolled segment's indexes are trimmed to their entries; the active one is preallocated.
    let idx = files_with_ext(dir.path(), "index");
    assert_eq!(fs::metadata(&idx[0]).unwrap().len() % 8, 0);
    assert!(fs::metadata(&idx[0]).unwrap().len() < 4096);
    assert_eq!(fs::metadata(&idx[2]).unwrap().len(), 4096);
    let tidx = files_with_ext(dir.path(), "timeindex");
    assert_eq!(
        fs::metadata(&tidx[0]).unwrap().len(),
        12,
        "one final entry for the max timestamp"
    );
}

#[test]
fn a_batch_larger_than_segment_bytes_goes_into_an_empty_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    append(&log, 1, 1, 10_000);
    assert_eq!(log.segment_count(), 1);
    append(&log, 1, 1, 10);
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn segments_roll_by_time_since_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..config()
    };
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    let mut b = batch(1, 5_000, 10);
    log.append(&mut b, 0, 5_000).unwrap();
    let mut b = batch(1, 5_500, 10);
    log.append(&mut b, 0, 6_000).unwrap();
    assert_eq!(
        log.segment_count(),
        1,
        "exactly segment.ms old does not roll"
    );
    let mut b = batch(1, 6_001, 10);
    log.append(&mut b, 0, 6_001).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn retention_by_time_deletes_expired_segments_and_moves_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 10_000,
        ..config()
    };
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    for i in 0..12 {
        append(&log, 1, 1_000 + i * 1_000, 1000 - 61); // segments: ts 1-4k, 5-8k, 9-12k
    }
    assert_eq!(log.segment_count(), 3);
    assert_eq!(
        log.apply_retention(14_000).unwrap(),
        0,
        "newest of seg 0 is 4000: 10000 old"
    );
    assert_eq!(log.apply_retention(14_001).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log_files(dir.path()).len(), 2);
    assert_eq!(log.size_bytes(), 8_000);
    assert!(matches!(
        log.read(3, 10, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(split(&log.read(4, 10, i64::MAX).unwrap().bytes)[0].0, 4);
    // Everything expired, the active segment too: it is rolled and deleted (Kafka).
    assert_eq!(log.apply_retention(100_000).unwrap(), 2);
    assert_eq!(log.segment_count(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (12, 12));
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(
        log.apply_retention(200_000).unwrap(),
        0,
        "an empty active segment stays"
    );
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg_ret(10_000)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (12, 12));
    assert_eq!(append(&log, 1, 1, 10).base_offset, 12);
}

fn cfg_ret(ms: i64) -> LogConfig {
    LogConfig {
        retention_ms: ms,
        ..config()
    }
}

#[test]
fn retention_by_size_deletes_oldest_segments_while_the_rest_exceeds_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for _ in 0..10 {
        append(&log, 1, 1, 1000 - 61); // segments of 4000, 4000, 2000 bytes
    }
    assert_eq!(
        log.apply_retention(0).unwrap(),
        0,
        "retention.bytes -1: unlimited"
    );
    log.set_config(LogConfig {
        retention_bytes: 7_000,
        ..config()
    });
    assert_eq!(log.config().retention_bytes, 7_000);
    // 10000 - 4000 >= 7000 is false: nothing to delete.
    assert_eq!(log.apply_retention(0).unwrap(), 0);
    log.set_config(LogConfig {
        retention_bytes: 6_000,
        ..config()
    });
    assert_eq!(log.apply_retention(0).unwrap(), 1);
    assert_eq!((log.log_start_offset(), log.size_bytes()), (4, 6_000));
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..config()
    });
    assert_eq!(log.apply_retention(0).unwrap(), 2);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (10, 10, 0)
    );
}

#[test]
fn truncate_to_removes_the_tail_across_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for i in 0..10 {
        append(&log, 2, i, 1000 - 61); // offsets 2i..2i+1, 4 batches per segment
    }
    assert_eq!(log.segment_count(), 3);
    assert!(matches!(
        log.truncate_to(5),
        Err(StorageError::InvalidTruncation(5))
    ));
    assert!(matches!(
        log.truncate_to(21),
        Err(StorageError::InvalidTruncation(21))
    ));
    log.truncate_to(6).unwrap();
    assert_eq!(
        (log.log_end_offset(), log.segment_count(), log.size_bytes()),
        (6, 1, 3000)
    );
    assert_eq!(log_files(dir.path()).len(), 1);
    assert_eq!(log.max_timestamp(), Some((2, 5)));
    assert!(matches!(log.read(6, 10, i64::MAX), Ok(r) if r.bytes.is_empty()));
    // Appends continue from the cut, in the now-active old segment.
    let info = append(&log, 1, 50, 10);
    assert_eq!(info.base_offset, 6);
    drop(log);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 7);
    let b = split(&log.read(0, u32::MAX, i64::MAX).unwrap().bytes);
    assert_eq!(b.iter().map(|b| b.0).collect::<Vec<_>>(), vec![0, 2, 4, 6]);
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
    assert_eq!(log.max_timestamp(), None);
}

#[test]
fn delete_records_before_moves_log_start_durably() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for _ in 0..10 {
        append(&log, 2, 1, 1000 - 61);
    }
    assert!(matches!(
        log.delete_records_before(21),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(9).unwrap(), 9);
    assert_eq!(
        log.segment_count(),
        2,
        "the segment holding 0..=7 is wholly below 9"
    );
    assert_eq!(
        log.delete_records_before(3).unwrap(),
        9,
        "never moves backwards"
    );
    // A read inside the first remaining batch returns it (it holds offset 9).
    let b = split(&log.read(9, 10, i64::MAX).unwrap().bytes);
    assert_eq!((b[0].0, b[0].1), (8, 9));
    assert!(matches!(
        log.read(8, 10, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    drop(log);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.delete_records_before(20).unwrap(), 20);
    assert_eq!(log.segment_count(), 1);
    drop(log);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (20, 20));
    assert!(log.truncate_to(19).is_err(), "below the log start");
}

#[test]
fn end_offset_for_epoch_follows_appends_truncation_and_reopen() {
    // KIP-101 / KIP-320 OffsetForLeaderEpoch.
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.end_offset_for_epoch(5), None);
    let app = |epoch: i32, n: i32| {
        let mut b = batch(n, 1, 100);
        log.append(&mut b, epoch, 1).unwrap();
    };
    app(1, 10); // 0..10
    app(1, 10); // 10..20
    app(3, 10); // 20..30
    app(4, 5); // 30..35
    app(4, 5); // 35..40
    assert_eq!(log.end_offset_for_epoch(0), None);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 20)));
    assert_eq!(log.end_offset_for_epoch(2), Some((1, 20)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 30)));
    assert_eq!(log.end_offset_for_epoch(4), Some((4, 40)));
    assert_eq!(log.end_offset_for_epoch(9), Some((4, 40)));
    log.truncate_to(30).unwrap();
    assert_eq!(log.end_offset_for_epoch(4), Some((3, 30)));
    let mut b = batch(2, 1, 10);
    log.append(&mut b, 6, 1).unwrap(); // 30..32 in epoch 6
    drop(log);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.end_offset_for_epoch(5), Some((3, 30)));
    assert_eq!(log.end_offset_for_epoch(6), Some((6, 32)));
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 20)));
    // A missing checkpoint is rebuilt from the batch headers.
    drop(log);
    fs::remove_file(dir.path().join(riffle_storage::LEADER_EPOCH_FILE)).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 20)));
    assert_eq!(log.end_offset_for_epoch(5), Some((3, 30)));
    assert_eq!(log.end_offset_for_epoch(7), Some((6, 32)));
}

#[test]
fn indexes_are_rebuilt_when_deleted_or_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..config()
    };
    let log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    for i in 0..40 {
        let mut b = batch(3, 1_000 + i * 10, 200);
        log.append(&mut b, 0, 0).unwrap();
    }
    log.flush_to(log.log_end_offset()).unwrap(); // closed segments become trusted
    let expect_read: Vec<_> = (0..120)
        .map(|o| log.read(o, 1, i64::MAX).unwrap().bytes)
        .collect();
    let expect_ts: Vec<_> = (990..1_400)
        .step_by(7)
        .map(|t| log.batch_for_timestamp(t).unwrap())
        .collect();
    assert!(expect_ts.last().unwrap().is_none());
    let check = |log: &PartitionLog| {
        for (o, want) in expect_read.iter().enumerate() {
            assert_eq!(
                &log.read(o as i64, 1, i64::MAX).unwrap().bytes,
                want,
                "offset {o}"
            );
        }
        for (k, t) in (990..1_400).step_by(7).enumerate() {
            assert_eq!(
                log.batch_for_timestamp(t).unwrap(),
                expect_ts[k],
                "timestamp {t}"
            );
        }
        assert_eq!(log.max_timestamp(), Some((1_390, 119)));
    };
    check(&log);
    drop(log);
    let idx = files_with_ext(dir.path(), "index");
    let tidx = files_with_ext(dir.path(), "timeindex");
    assert!(idx.len() >= 3);
    fs::remove_file(&idx[0]).unwrap();
    fs::remove_file(&tidx[1]).unwrap();
    let log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    check(&log);
    drop(log);
    // Corrupt: garbage entries, a truncated entry, a shuffled index.
    fs::write(&idx[0], [0xffu8; 24]).unwrap();
    fs::write(&tidx[0], [0x01u8; 13]).unwrap();
    let mut shuffled = fs::read(&idx[1]).unwrap();
    shuffled.reverse();
    fs::write(&idx[1], shuffled).unwrap();
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    check(&log);
    assert_eq!(fs::metadata(&idx[0]).unwrap().len() % 8, 0);
}

#[test]
fn batch_for_timestamp_finds_first_batch_reaching_the_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        LogConfig {
            index_interval_bytes: 1,
            ..config()
        },
    )
    .unwrap();
    for ts in [10, 30, 20, 40, 40, 50] {
        append(&log, 1, ts, 300);
    }
    let base_of = |t: i64| {
        log.batch_for_timestamp(t).unwrap().map(|b| {
            riffle_protocol::batch::RecordBatchView::parse(&b)
                .unwrap()
                .base_offset()
        })
    };
    assert_eq!(base_of(0), Some(0));
    assert_eq!(base_of(11), Some(1));
    assert_eq!(base_of(25), Some(1));
    assert_eq!(base_of(31), Some(3));
    assert_eq!(base_of(41), Some(5));
    assert_eq!(base_of(51), None);
    assert_eq!(log.max_timestamp(), Some((50, 5)));
}

#[test]
fn for_each_batch_visits_every_batch_from_the_one_containing_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    for _ in 0..12 {
        append(&log, 3, 1, 900);
    }
    let mut seen = Vec::new();
    log.for_each_batch(10, &mut |v| seen.push(v.base_offset()))
        .unwrap();
    assert_eq!(seen, (9..36).step_by(3).collect::<Vec<_>>());
}

#[test]
fn batches_encoded_by_kafka_protocol_round_trip() {
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    let records: Vec<Record> = (0..5)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_000 + i,
            key: None,
            value: Some(bytes::Bytes::from(vec![b'x'; 1024])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::Lz4,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    let mut first = buf.to_vec();
    log.append(&mut first, 2, 0).unwrap();
    let mut second = buf.to_vec();
    let info = log.append(&mut second, 2, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.max_timestamp),
        (5, 9, 1_004)
    );
    let mut read = log.read(5, u32::MAX, i64::MAX).unwrap().bytes;
    let mut decoded = Vec::new();
    while !read.is_empty() {
        decoded.extend(RecordBatchDecoder::decode(&mut read).unwrap().records);
    }
    assert_eq!(decoded.len(), 5);
    assert_eq!(
        decoded.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![5, 6, 7, 8, 9]
    );
    assert_eq!(decoded[4].value.as_deref(), Some(&[b'x'; 1024][..]));
}

#[test]
fn concurrent_appends_and_flushes_share_syncs_and_lose_nothing() {
    // Group commit: many threads append then flush_to their own end.
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        PartitionLog::open(
            dir.path(),
            LogConfig {
                segment_bytes: 64 * 1024,
                ..config()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..50 {
                    let mut b = batch_with_fill(2, i, 200, t);
                    let info = log.append(&mut b, 0, 0).unwrap();
                    log.flush_to(info.log_end_offset).unwrap();
                    mine.push(info.base_offset);
                    // Reads run alongside appends and always see whole, valid batches.
                    let r = log.read(info.base_offset, 10_000, i64::MAX).unwrap();
                    let got = split(&r.bytes);
                    assert_eq!(got[0].0, info.base_offset);
                    assert_eq!(got[0].2[100], t);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<i64> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..800).step_by(2).collect::<Vec<_>>());
    assert!(log.segment_count() > 1);
    // Everything flushed survives losing any later write: nothing was later.
    let synced = snapshot_lengths(dir.path());
    drop(Arc::try_unwrap(log).ok().unwrap());
    lose_unsynced_log_writes(dir.path(), &synced);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 800);
    assert_eq!(
        split(&log.read(0, u32::MAX, i64::MAX).unwrap().bytes).len(),
        400
    );
}

#[test]
fn page_cache_mode_flush_returns_at_once_and_flush_all_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        LogConfig {
            durability: Durability::PageCache,
            ..config()
        },
    )
    .unwrap();
    for _ in 0..10 {
        append(&log, 1, 1, 1000);
    }
    log.flush_to(10).unwrap();
    log.flush_all().unwrap();
    // Fsync mode: a flush past the log end covers what exists and returns.
    log.set_config(config());
    log.flush_to(i64::MAX).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join(riffle_storage::RECOVERY_POINT_FILE)).unwrap(),
        "0\n1\n9\n"
    );
}

#[test]
fn stray_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    append(&log, 1, 1, 10);
    drop(log);
    let p = dir.path();
    fs::write(p.join("00000000000000000077.index"), [0u8; 16]).unwrap();
    fs::write(p.join("00000000000000000077.timeindex"), [0u8; 16]).unwrap();
    fs::write(p.join("log-start-offset.tmp"), b"junk").unwrap();
    fs::write(p.join("00000000000000000000.log.deleted"), b"junk").unwrap();
    let log = PartitionLog::open(p, config()).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    for name in [
        "00000000000000000077.index",
        "00000000000000000077.timeindex",
        "log-start-offset.tmp",
        "00000000000000000000.log.deleted",
    ] {
        assert!(!p.join(name).exists(), "{name} should be gone");
    }
}

#[test]
fn delete_removes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = PartitionLog::open(&path, config()).unwrap();
    append(&log, 1, 1, 10);
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn preallocated_index_files_stay_sparse() {
    // 50 partitions of __consumer_offsets must not cost 50 x 20 MiB of disk up front.
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_index_bytes: 10 * 1024 * 1024,
        ..config()
    };
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    append(&log, 3, 1_000, 100);
    for ext in ["index", "timeindex"] {
        for f in files_with_ext(dir.path(), ext) {
            let meta = fs::metadata(&f).unwrap();
            assert!(
                meta.len() >= 10 * 1024 * 1024 - 12,
                "{f:?} is not preallocated"
            );
            let allocated = meta.blocks() * 512;
            assert!(allocated < 1024 * 1024, "{f:?} allocates {allocated} bytes");
        }
    }
}
