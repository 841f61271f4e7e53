//! Criterion benches: appending batches of 1 KiB records (page-cache and fsync modes) and
//! sequential reads.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use riffle_storage::{Durability, LogConfig, PartitionLog};

/// A v2 batch of `records` records, each ~1 KiB (the records section is filler: storage
/// never decodes records), with a correct CRC32C.
fn batch(records: i32) -> Vec<u8> {
    let total = 61 + 1024 * records as usize;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((total - 12) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(records - 1).to_be_bytes());
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&records.to_be_bytes());
    b.resize(total, 0x61);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn config(durability: Durability) -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 20,
        durability,
        ..LogConfig::default()
    }
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    for (name, durability, records) in [
        ("page_cache_1x1KiB", Durability::PageCache, 1),
        ("page_cache_16x1KiB", Durability::PageCache, 16),
        ("fsync_1x1KiB", Durability::Fsync, 1),
        ("fsync_16x1KiB", Durability::Fsync, 16),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), config(durability)).unwrap();
        let template = batch(records);
        g.throughput(Throughput::Bytes(template.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || template.clone(),
                |buf| {
                    let info = log.append(buf, 0, 1).unwrap();
                    log.flush_to(info.log_end_offset).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(Durability::PageCache)).unwrap();
    let template = batch(16);
    for _ in 0..2048 {
        log.append(&mut template.clone(), 0, 1).unwrap(); // ~32 MiB
    }
    let end = log.log_end_offset();
    let mut g = c.benchmark_group("read");
    let max_bytes = 1 << 20;
    g.throughput(Throughput::Bytes(max_bytes as u64));
    g.bench_function("sequential_1MiB", |b| {
        let mut offset = 0;
        b.iter(|| {
            let r = log.read(offset, max_bytes, i64::MAX).unwrap();
            let last = riffle_protocol::batch::BatchIter::new(&r.bytes)
                .last()
                .and_then(|v| v.ok())
                .map_or(0, |v| v.last_offset());
            offset = if last + 1 >= end { 0 } else { last + 1 };
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = append, read
}
criterion_main!(benches);
