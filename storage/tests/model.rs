//! Property test: random appends, reads, truncations, DeleteRecords, retention and reopens
//! against an in-memory model of the log.

mod common;

use common::*;
use proptest::prelude::*;
use riffle_storage::{LogConfig, PartitionLog, StorageError};

#[derive(Debug, Clone)]
enum Op {
    Append {
        batches: Vec<(i32, usize)>,
        epoch_bump: bool,
    },
    Read {
        at: u16,
        max_bytes: u16,
        max_offset_back: u8,
    },
    Truncate {
        at: u16,
    },
    DeleteRecords {
        at: u16,
    },
    RetainBytes {
        bytes: u16,
    },
    Reopen,
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec((1..5i32, 0..400usize), 1..4), any::<bool>())
            .prop_map(|(batches, epoch_bump)| Op::Append { batches, epoch_bump }),
        4 => (any::<u16>(), any::<u16>(), 0..4u8)
            .prop_map(|(at, max_bytes, max_offset_back)| Op::Read { at, max_bytes, max_offset_back }),
        1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        1 => any::<u16>().prop_map(|at| Op::DeleteRecords { at }),
        1 => (0..3000u16).prop_map(|bytes| Op::RetainBytes { bytes }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Flush),
    ]
}

/// The model: every batch still in the log as (base, last, bytes), plus the log start.
struct Model {
    batches: Vec<(i64, i64, Vec<u8>)>,
    log_start: i64,
    log_end: i64,
}

fn cfg() -> LogConfig {
    LogConfig {
        segment_bytes: 1500,
        index_interval_bytes: 128,
        segment_index_bytes: 80,
        ..config()
    }
}

fn check_all(log: &PartitionLog, m: &Model) {
    assert_eq!(log.log_end_offset(), m.log_end);
    assert_eq!(log.log_start_offset(), m.log_start);
    let want: Vec<_> = m
        .batches
        .iter()
        .filter(|b| b.1 >= m.log_start)
        .cloned()
        .collect();
    let got = if m.log_start < m.log_end {
        split(&log.read(m.log_start, u32::MAX, i64::MAX).unwrap().bytes)
    } else {
        vec![]
    };
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
        let mut m = Model { batches: vec![], log_start: 0, log_end: 0 };
        let mut epoch = 0;
        for op in ops {
            match op {
                Op::Append { batches, epoch_bump } => {
                    if epoch_bump { epoch += 1; }
                    let mut buf = Vec::new();
                    for (i, &(n, payload)) in batches.iter().enumerate() {
                        buf.extend(batch_with_fill(n, m.log_end + i as i64, payload, i as u8));
                    }
                    let info = log.append(&mut buf, epoch, 0).unwrap();
                    prop_assert_eq!(info.base_offset, m.log_end);
                    for v in riffle_protocol::batch::BatchIter::new(&buf) {
                        let v = v.unwrap();
                        m.batches.push((v.base_offset(), v.last_offset(), v.as_bytes().to_vec()));
                    }
                    m.log_end = info.log_end_offset;
                    prop_assert_eq!(log.end_offset_for_epoch(epoch).map(|e| e.1), Some(m.log_end));
                }
                Op::Read { at, max_bytes, max_offset_back } => {
                    let span = (m.log_end - m.log_start + 2).max(1);
                    let offset = m.log_start - 1 + i64::from(at) % span;
                    let max_offset = m.log_end - i64::from(max_offset_back);
                    let r = log.read(offset, u32::from(max_bytes), max_offset);
                    if offset < m.log_start || offset > m.log_end {
                        let out_of_range = matches!(r, Err(StorageError::OffsetOutOfRange { .. }));
                        prop_assert!(out_of_range);
                        continue;
                    }
                    let got = split(&r.unwrap().bytes);
                    let mut want = Vec::new();
                    let mut used = 0usize;
                    for b in m.batches.iter().filter(|b| b.1 >= offset) {
                        if b.1 >= max_offset { break; }
                        if !want.is_empty() && used + b.2.len() > usize::from(max_bytes) { break; }
                        used += b.2.len();
                        want.push(b.clone());
                    }
                    prop_assert_eq!(got, want);
                }
                Op::Truncate { at } => {
                    let candidates: Vec<i64> = m.batches.iter().map(|b| b.0).filter(|&o| o >= m.log_start).chain([m.log_end]).collect();
                    let to = candidates[usize::from(at) % candidates.len()];
                    log.truncate_to(to).unwrap();
                    m.batches.retain(|b| b.0 < to);
                    m.log_end = to;
                }
                Op::DeleteRecords { at } => {
                    let span = m.log_end - m.log_start + 1;
                    let to = m.log_start + i64::from(at) % span;
                    prop_assert_eq!(log.delete_records_before(to).unwrap(), to.max(m.log_start));
                    m.log_start = m.log_start.max(to);
                }
                Op::RetainBytes { bytes } => {
                    log.set_config(LogConfig { retention_bytes: i64::from(bytes), ..cfg() });
                    log.apply_retention(0).unwrap();
                    prop_assert_eq!(log.apply_retention(0).unwrap(), 0, "retention reaches a fixed point");
                    log.set_config(cfg());
                    let start = log.log_start_offset();
                    prop_assert!(start >= m.log_start);
                    m.log_start = start;
                    m.batches.retain(|b| b.1 >= start);
                }
                Op::Reopen => {
                    drop(log);
                    log = PartitionLog::open(dir.path(), cfg()).unwrap();
                }
                Op::Flush => log.flush_to(m.log_end).unwrap(),
            }
            check_all(&log, &m);
        }
    }
}
