//! Test helpers: hand-built record batches with a correct CRC32C, and crash simulation.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use riffle_storage::{Durability, LogConfig};

/// A record-batch v2 with `records` records whose records section is `payload_bytes` of
/// filler (storage never decodes records), timestamps `ts`, correct CRC32C.
pub fn batch(records: i32, ts: i64, payload_bytes: usize) -> Vec<u8> {
    batch_with_fill(records, ts, payload_bytes, 0xab)
}

pub fn batch_with_fill(records: i32, ts: i64, payload_bytes: usize, fill: u8) -> Vec<u8> {
    assert!(records >= 1);
    let total = 61 + payload_bytes;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((total - 12) as i32).to_be_bytes()); // batch length
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&(records - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&ts.to_be_bytes()); // base timestamp
    b.extend_from_slice(&ts.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&records.to_be_bytes()); // record count
    b.resize(total, fill);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

pub fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        segment_ms: i64::MAX / 2,
        retention_ms: -1,
        retention_bytes: -1,
        index_interval_bytes: 256,
        segment_index_bytes: 4096,
        durability: Durability::Fsync,
        ..LogConfig::default()
    }
}

/// The batches of a read, as (base offset, last offset, bytes).
pub fn split(bytes: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
    riffle_protocol::batch::BatchIter::new(bytes)
        .map(|v| {
            let v = v.expect("read returned a malformed batch");
            v.verify_crc()
                .expect("read returned a batch with a bad CRC");
            (v.base_offset(), v.last_offset(), v.as_bytes().to_vec())
        })
        .collect()
}

/// Sizes of every file in `dir`: what "synced" looks like at this moment.
pub fn snapshot_lengths(dir: &Path) -> HashMap<PathBuf, u64> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path(), e.metadata().unwrap().len())
        })
        .collect()
}

/// Simulates losing every unsynced write to segment logs: files created after the
/// snapshot vanish and `.log` files are cut back to their snapshot length.
pub fn lose_unsynced_log_writes(dir: &Path, synced: &HashMap<PathBuf, u64>) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        match synced.get(&path) {
            None => fs::remove_file(&path).unwrap(),
            Some(&len) if path.extension().is_some_and(|x| x == "log") => {
                let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
                if f.metadata().unwrap().len() > len {
                    f.set_len(len).unwrap();
                }
            }
            Some(_) => {}
        }
    }
}

pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}
