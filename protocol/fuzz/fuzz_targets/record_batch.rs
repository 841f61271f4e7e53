//! Fuzz: BatchIter and RecordBatchView::parse_verified over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riffle_protocol::batch::{BatchIter, RecordBatchView};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = RecordBatchView::parse_verified(data) {
        assert!(v.size_bytes() <= data.len());
        let _ = (v.last_offset(), v.records_bytes().len(), v.compression());
    }
    let mut total = 0;
    for item in BatchIter::new(data) {
        match item {
            Ok(v) => {
                total += v.size_bytes();
                let _ = (v.verify_crc(), v.last_offset(), v.max_timestamp(), v.records_bytes());
            }
            Err(_) => break,
        }
    }
    assert!(total <= data.len());
});
