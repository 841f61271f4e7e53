//! Log compaction (KIP-58/KIP-354/KIP-534): the latest record per key survives at its
//! original offset, tombstones expire after `delete.retention.ms`, the active segment and
//! recent segments are never touched, and a crash at any step leaves a readable log.

mod common;

use std::collections::BTreeMap;
use std::fs;

use bytes::Bytes;
use common::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;
use riffle_storage::{CleanupPolicy, LogConfig, PartitionLog};

/// A batch of keyed records (`None` value = tombstone), offsets from 0, timestamps `ts`.
fn keyed(
    records: &[(&[u8], Option<&[u8]>)],
    ts: i64,
    compression: Compression,
    pid: i64,
) -> Vec<u8> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if pid >= 0 { i as i32 } else { -1 },
            timestamp: ts + i as i64,
            key: Some(Bytes::copy_from_slice(k)),
            value: v.map(Bytes::copy_from_slice),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1000,
        ..config()
    }
}

/// Every record readable from the log start: (offset, key, value, timestamp).
type Rec = (i64, Vec<u8>, Option<Vec<u8>>, i64);
fn records(log: &PartitionLog) -> Vec<Rec> {
    let start = log.log_start_offset();
    if start == log.log_end_offset() {
        return vec![];
    }
    let bytes = log.read(start, u32::MAX, i64::MAX).unwrap().bytes;
    split(&bytes); // every batch has a valid CRC
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in set.records {
            out.push((
                r.offset,
                r.key.unwrap().to_vec(),
                r.value.map(|v| v.to_vec()),
                r.timestamp,
            ));
        }
    }
    out
}

fn put(log: &PartitionLog, k: &str, v: Option<&str>, ts: i64) -> i64 {
    let mut b = keyed(
        &[(k.as_bytes(), v.map(str::as_bytes))],
        ts,
        Compression::None,
        -1,
    );
    log.append(&mut b, 0, ts).unwrap().base_offset
}

/// The latest (offset, value) per key among `recs`.
fn latest(recs: &[Rec]) -> BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> {
    let mut m = BTreeMap::new();
    for (o, k, v, _) in recs {
        m.insert(k.clone(), (*o, v.clone()));
    }
    m
}

fn fill_keys(log: &PartitionLog, rounds: usize, keys: usize) {
    for round in 0..rounds {
        for k in 0..keys {
            put(log, &format!("k{k}"), Some(&format!("v{round}-{k}")), 10);
        }
    }
}

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_original_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    fill_keys(&log, 6, 4);
    log.flush_to(log.log_end_offset()).unwrap();
    let before = records(&log);
    let end = log.log_end_offset();
    let active_base = fs::read_dir(dir.path()).unwrap().count(); // touch
    let _ = active_base;
    let out = log.compact(100).unwrap();
    assert!(out.cleaned && out.segments_rewritten > 0, "{out:?}");
    assert!(out.records_removed > 0 && out.bytes_after < out.bytes_before);
    let after = records(&log);
    assert_eq!(log.log_end_offset(), end, "offsets unchanged");
    assert_eq!(
        latest(&after),
        latest(&before),
        "latest value of every key survives"
    );
    // Within the cleaned range no key appears twice.
    let cleaned_end = out.first_dirty_offset;
    let mut seen = std::collections::HashSet::new();
    for (o, k, _, _) in after.iter().filter(|r| r.0 < cleaned_end) {
        assert!(
            seen.insert(k.clone()),
            "key {k:?} twice in the cleaned range at {o}"
        );
    }
    // Every surviving record is the same record (offset, key, value, timestamp) as before.
    for r in &after {
        assert!(before.contains(r), "{r:?} was not in the log");
    }
    // Survives a reopen.
    drop(log);
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    assert_eq!(records(&log), after);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn compaction_never_touches_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    fill_keys(&log, 5, 3);
    log.flush_to(log.log_end_offset()).unwrap();
    let active = log_files(dir.path()).pop().unwrap();
    let active_bytes = fs::read(&active).unwrap();
    let out = log.compact(100).unwrap();
    assert!(out.cleaned);
    assert_eq!(fs::read(&active).unwrap(), active_bytes);
    assert!(out.first_dirty_offset <= log.log_end_offset());
    // The active segment still holds duplicates of keys cleaned elsewhere: all its records
    // remain readable.
    let recs = records(&log);
    let active_base: i64 = active
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(recs.iter().filter(|r| r.0 >= active_base).count() > 0);
}

#[test]
fn compaction_is_skipped_below_the_dirty_ratio_and_under_the_delete_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..compact_config()
    };
    let log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    fill_keys(&log, 6, 4);
    log.flush_to(log.log_end_offset()).unwrap();
    log.set_config(LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..cfg.clone()
    });
    assert!(
        !log.compact(100).unwrap().cleaned,
        "delete policy never compacts"
    );
    log.set_config(cfg.clone());
    assert!((log.dirty_ratio(100) - 1.0).abs() < 1e-9);
    assert!(log.compact(100).unwrap().cleaned);
    assert_eq!(log.dirty_ratio(100), 0.0);
    // A little new data: ratio below 0.5, so nothing happens.
    put(&log, "k0", Some("new"), 10);
    for _ in 0..6 {
        put(
            &log,
            "pad",
            Some("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            10,
        );
    }
    log.flush_to(log.log_end_offset()).unwrap();
    let ratio = log.dirty_ratio(100);
    assert!(ratio > 0.0, "{ratio}");
    let threshold = LogConfig {
        min_cleanable_dirty_ratio: (ratio + 0.01).min(1.0),
        ..cfg.clone()
    };
    log.set_config(threshold);
    let out = log.compact(100).unwrap();
    assert!(!out.cleaned && out.segments_rewritten == 0, "{out:?}");
    log.set_config(LogConfig {
        min_cleanable_dirty_ratio: ratio,
        ..cfg
    });
    assert!(log.compact(100).unwrap().cleaned, "at the ratio it cleans");
}

#[test]
fn max_compaction_lag_forces_cleaning_below_the_dirty_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 1.0,
        max_compaction_lag_ms: 1000,
        ..compact_config()
    };
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    fill_keys(&log, 4, 4);
    log.flush_to(log.log_end_offset()).unwrap();
    assert!(log.compact(100).unwrap().cleaned); // ratio 1.0 reached the first time
    fill_keys(&log, 3, 4);
    log.flush_to(log.log_end_offset()).unwrap();
    let ratio = log.dirty_ratio(500);
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
    assert!(
        !log.compact(500).unwrap().cleaned,
        "lag not reached, ratio below 1"
    );
    assert!(log.compact(2000).unwrap().cleaned, "max lag passed");
}

#[test]
fn min_compaction_lag_keeps_recent_segments_uncleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_compaction_lag_ms: 1000,
        ..compact_config()
    };
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    for round in 0..6 {
        put(&log, "a", Some(&format!("{round}")), 5000);
        put(&log, "b", Some(&format!("{round}")), 5000);
    }
    log.flush_to(log.log_end_offset()).unwrap();
    let before = records(&log);
    // now - lag = 4500 < 5000: every segment is too recent.
    assert!(!log.compact(5500).unwrap().cleaned);
    assert_eq!(records(&log), before);
    // Later, they are old enough.
    assert!(log.compact(7000).unwrap().cleaned);
    assert!(records(&log).len() < before.len());
    assert_eq!(latest(&records(&log)), latest(&before));
}

#[test]
fn tombstones_are_kept_until_delete_retention_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    fill_keys(&log, 2, 3);
    let tomb = put(&log, "k1", None, 20);
    fill_keys(&log, 3, 1); // more segments so the tombstone's is closed
    put(&log, "k2", Some("last"), 20);
    fill_keys(&log, 3, 1);
    log.flush_to(log.log_end_offset()).unwrap();
    let out = log.compact(1_000).unwrap();
    assert!(out.cleaned);
    let recs = records(&log);
    let k1: Vec<_> = recs.iter().filter(|r| r.1 == b"k1").collect();
    assert_eq!(k1.len(), 1, "only the tombstone is left of k1: {k1:?}");
    assert_eq!(
        (k1[0].0, k1[0].2.clone(), k1[0].3),
        (tomb, None, 20),
        "timestamp kept"
    );
    // Before delete.retention.ms (1000) from the first cleaning: still there.
    log.compact(1_500).unwrap();
    assert!(records(&log).iter().any(|r| r.0 == tomb));
    // After it: gone, even with no new dirty data (the horizon is due), and after a reopen.
    drop(log);
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    let out = log.compact(2_001).unwrap();
    assert!(out.cleaned, "{out:?}");
    let recs = records(&log);
    assert!(
        !recs.iter().any(|r| r.1 == b"k1"),
        "tombstone removed: {recs:?}"
    );
    assert!(recs
        .iter()
        .any(|r| r.1 == b"k2" && r.2.as_deref() == Some(&b"last"[..])));
}

#[test]
fn compressed_batches_are_compacted_and_stay_compressed() {
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
        for round in 0..5 {
            let v = format!("value-{round}");
            let mut b = keyed(
                &[
                    (b"x", Some(v.as_bytes())),
                    (b"y", Some(v.as_bytes())),
                    (b"z", None),
                ],
                10 * round,
                compression,
                -1,
            );
            log.append(&mut b, 0, 0).unwrap();
        }
        log.flush_to(log.log_end_offset()).unwrap();
        let before = records(&log);
        assert!(log.compact(100).unwrap().cleaned);
        let after = records(&log);
        assert!(after.len() < before.len(), "{compression:?}");
        assert_eq!(latest(&after), latest(&before), "{compression:?}");
        for r in &after {
            assert!(before.contains(r), "{compression:?}: {r:?} changed");
        }
        let bytes = log.read(0, u32::MAX, i64::MAX).unwrap().bytes;
        for (_, _, b) in split(&bytes) {
            let v = riffle_protocol::batch::RecordBatchView::parse(&b).unwrap();
            if v.record_count() > 0 {
                assert_eq!(v.attributes() & 7, compression as i16);
            }
        }
    }
}

#[test]
fn a_producers_last_batch_is_kept_empty_so_its_sequence_survives() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    let mut b = keyed(
        &[(b"p", Some(b"1")), (b"q", Some(b"1"))],
        1,
        Compression::None,
        7,
    );
    let first = log.append(&mut b, 0, 0).unwrap();
    fill_keys(&log, 1, 1);
    put(&log, "p", Some("2"), 1);
    put(&log, "q", Some("2"), 1);
    fill_keys(&log, 4, 1);
    log.flush_to(log.log_end_offset()).unwrap();
    assert!(log.compact(100).unwrap().cleaned);
    let mut seen = None;
    log.for_each_batch(0, &mut |v| {
        if v.producer_id() == 7 {
            seen = Some((
                v.base_offset(),
                v.last_offset(),
                v.record_count(),
                v.base_sequence(),
            ));
        }
    })
    .unwrap();
    assert_eq!(seen, Some((first.base_offset, first.last_offset, 0, 0)));
}

#[test]
fn compact_delete_also_applies_time_retention_and_compact_alone_does_not() {
    for (policy, expect_deleted) in [
        (CleanupPolicy::Compact, false),
        (CleanupPolicy::CompactDelete, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            cleanup_policy: policy,
            retention_ms: 1000,
            retention_bytes: 100,
            ..compact_config()
        };
        let log = PartitionLog::open(dir.path(), cfg).unwrap();
        fill_keys(&log, 5, 3);
        let n = log.apply_retention(1_000_000).unwrap();
        assert_eq!(n > 0, expect_deleted, "{policy:?}");
        assert_eq!(log.log_start_offset() > 0, expect_deleted, "{policy:?}");
    }
}

#[test]
fn the_cleaner_checkpoint_persists_so_cleaning_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    fill_keys(&log, 5, 3);
    log.flush_to(log.log_end_offset()).unwrap();
    let out = log.compact(100).unwrap();
    assert!(out.first_dirty_offset > 0);
    drop(log);
    assert!(dir
        .path()
        .join(riffle_storage::CLEANER_CHECKPOINT_FILE)
        .exists());
    let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
    assert_eq!(log.dirty_ratio(100), 0.0, "nothing dirty after reopen");
    assert!(!log.compact(100).unwrap().cleaned);
}

/// Crash simulation: run a pass, then recreate the files as they were at an intermediate
/// step of the swap, reopen, and check nothing latest was lost.
#[test]
fn a_crash_at_any_step_of_the_swap_leaves_every_latest_value_readable() {
    for step in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
        fill_keys(&log, 6, 4);
        put(&log, "k1", None, 10);
        fill_keys(&log, 2, 2);
        log.flush_to(log.log_end_offset()).unwrap();
        let before = records(&log);
        let old: Vec<(std::path::PathBuf, Vec<u8>)> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), fs::read(&p).unwrap()))
            .collect();
        let out = log.compact(100).unwrap();
        assert!(out.segments_rewritten >= 2);
        let cleaned_count = records(&log).len();
        assert!(cleaned_count < before.len());
        drop(log);
        let new: Vec<(std::path::PathBuf, Vec<u8>)> = old
            .iter()
            .map(|(p, _)| (p.clone(), fs::read(p).unwrap()))
            .collect();
        // Restore the old files and place the new ones under their staged names.
        let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i].1 != new[i].1).collect();
        for (p, b) in &old {
            fs::write(p, b).unwrap();
        }
        let stage = |i: usize, suffix: &str| {
            let p = &new[i].0;
            let staged = format!("{}{suffix}", p.display());
            fs::write(staged, &new[i].1).unwrap();
        };
        let is_log = |i: usize| new[i].0.extension().is_some_and(|x| x == "log");
        for (n, &i) in changed.iter().enumerate() {
            match step {
                0 => stage(i, ".cleaned"), // crash while writing cleaned files
                1 => stage(i, if is_log(i) { ".cleaned" } else { ".swap" }), // mid .cleaned -> .swap
                2 => stage(
                    i,
                    if n == 0 || !is_log(i) {
                        ".swap"
                    } else {
                        ".cleaned"
                    },
                ),
                3 => stage(i, ".swap"), // every segment committed
                _ => {
                    // mid .swap -> final: indexes moved, logs still .swap
                    if is_log(i) {
                        stage(i, ".swap")
                    } else {
                        fs::write(&new[i].0, &new[i].1).unwrap()
                    }
                }
            }
        }
        let log = PartitionLog::open(dir.path(), compact_config()).unwrap();
        let after = records(&log);
        assert_eq!(latest(&after), latest(&before), "step {step}");
        for r in &after {
            assert!(before.contains(r), "step {step}: {r:?}");
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
        if step >= 3 {
            assert_eq!(after.len(), cleaned_count, "step {step}: swap completed");
        }
        // The log still compacts and appends after recovery.
        log.compact(100).unwrap();
        assert_eq!(latest(&records(&log)), latest(&before));
        put(&log, "after", Some("crash"), 10);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: u8,
        value: Option<u8>,
        batch: u8,
    },
    Compact {
        advance_ms: u16,
    },
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..6u8, prop::option::weighted(0.85, any::<u8>()), 1..4u8)
            .prop_map(|(key, value, batch)| Op::Put { key, value, batch }),
        2 => (0..3000u16).prop_map(|advance_ms| Op::Compact { advance_ms }),
        2 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
    /// For every key, its latest record stays readable at its original offset; tombstoned
    /// keys never come back with an older value.
    #[test]
    fn compacted_log_keeps_every_keys_latest_record(ops in prop::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { segment_bytes: 300, ..compact_config() };
        let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
        // key -> (offset, value) of its latest record
        let mut model: BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> = BTreeMap::new();
        let mut all: Vec<Rec> = Vec::new();
        let mut now = 0i64;
        for op in ops {
            match op {
                Op::Put { key, value, batch } => {
                    let recs: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..batch)
                        .map(|i| (vec![b'k', (key + i) % 6], value.map(|v| vec![v, i])))
                        .collect();
                    let refs: Vec<(&[u8], Option<&[u8]>)> =
                        recs.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
                    let mut b = keyed(&refs, now, Compression::None, -1);
                    let base = log.append(&mut b, 0, now).unwrap().base_offset;
                    for (i, (k, v)) in recs.into_iter().enumerate() {
                        model.insert(k.clone(), (base + i as i64, v.clone()));
                        all.push((base + i as i64, k, v, now + i as i64));
                    }
                }
                Op::Compact { advance_ms } => {
                    now += i64::from(advance_ms);
                    log.compact(now).unwrap();
                }
                Op::Flush => log.flush_to(log.log_end_offset()).unwrap(),
                Op::Reopen => {
                    drop(log);
                    log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
                }
            }
            let got = records(&log);
            // Offsets strictly increase and every record is one that was written.
            for w in got.windows(2) { prop_assert!(w[0].0 < w[1].0); }
            for r in &got { prop_assert!(all.contains(r), "{:?} was never written", r); }
            let got_latest = latest(&got);
            for (k, (o, v)) in &model {
                match got_latest.get(k) {
                    Some(found) => prop_assert_eq!(found, &(*o, v.clone()), "key {:?}", k),
                    // Only an expired tombstone may vanish.
                    None => prop_assert!(v.is_none(), "key {:?} lost its latest value", k),
                }
            }
        }
    }
}
