//! Property tests: frames, request headers and record batches round-trip; corrupted, truncated
//! and random input is an error, never a panic.

mod common;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use riffle_protocol::batch::{BatchIter, RecordBatchView, BATCH_HEADER_BYTES};
use riffle_protocol::frame::encode_frame;
use riffle_protocol::kafka_protocol::indexmap::IndexMap;
use riffle_protocol::kafka_protocol::protocol::StrBytes;
use riffle_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use riffle_protocol::{decode_request, encode_request, FrameDecoder, SUPPORTED_APIS};

proptest! {
    #[test]
    fn frames_split_at_any_chunking_come_back_in_order(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        chunk in 1usize..64,
    ) {
        let mut wire = Vec::new();
        for b in &bodies {
            wire.extend_from_slice(&encode_frame(b));
        }
        let mut dec = FrameDecoder::new(300);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f.to_vec());
            }
        }
        prop_assert_eq!(got, bodies);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn request_headers_round_trip_for_every_supported_api(
        api_index in 0..SUPPORTED_APIS.len(),
        version_pick in any::<u16>(),
        correlation_id in any::<i32>(),
        client_id in prop::option::of("[a-zA-Z0-9._-]{0,40}"),
        tag_value in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
    ) {
        let api = SUPPORTED_APIS[api_index];
        let span = (api.max_version - api.min_version + 1) as u16;
        let v = api.min_version + (version_pick % span) as i16;
        let mut h = common::header(api.key, v, correlation_id);
        h.client_id = client_id.map(StrBytes::from_string);
        if api.key.request_header_version(v) >= 2 {
            if let Some(t) = tag_value {
                h.unknown_tagged_fields.insert(7, Bytes::from(t));
            }
        }
        let body = common::sample_request(api.key, v);
        let frame = encode_request(&h, &body).unwrap();
        let d = decode_request(frame.slice(4..)).unwrap();
        prop_assert_eq!(d.header, h);
        prop_assert_eq!(d.body, body);
    }

    #[test]
    fn record_batches_parse_with_matching_fields_and_any_flip_after_21_fails(
        base_offset in 0i64..1 << 40,
        leader_epoch in any::<i32>(),
        producer_id in -1i64..1 << 40,
        producer_epoch in -1i16..100,
        base_sequence in 0i32..1000,
        base_timestamp in 0i64..1 << 42,
        records in prop::collection::vec(
            (0i64..10_000, prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
             prop::option::of(prop::collection::vec(any::<u8>(), 0..50))),
            1..6),
        transactional in any::<bool>(),
        flip_pick in any::<usize>(),
        flip_xor in 1u8..=255,
    ) {
        let recs: Vec<Record> = records.iter().enumerate().map(|(i, (dt, k, v))| Record {
            transactional,
            control: false,
            partition_leader_epoch: leader_epoch,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: base_offset + i as i64,
            sequence: base_sequence + i as i32,
            timestamp: base_timestamp + dt,
            key: k.clone().map(Bytes::from),
            value: v.clone().map(Bytes::from),
            headers: IndexMap::new(),
            delete_horizon: false,
        }).collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &recs, &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        }).unwrap();
        let bytes = buf.freeze();
        let view = RecordBatchView::parse_verified(&bytes).unwrap();
        prop_assert_eq!(view.size_bytes(), bytes.len());
        prop_assert_eq!(view.base_offset(), base_offset);
        prop_assert_eq!(view.last_offset(), base_offset + recs.len() as i64 - 1);
        prop_assert_eq!(view.record_count(), recs.len() as i32);
        prop_assert_eq!(view.partition_leader_epoch(), leader_epoch);
        prop_assert_eq!(view.producer_id(), producer_id);
        prop_assert_eq!(view.producer_epoch(), producer_epoch);
        prop_assert_eq!(view.base_sequence(), base_sequence);
        prop_assert_eq!(view.is_transactional(), transactional);
        prop_assert!(!view.is_control());
        prop_assert_eq!(view.base_timestamp(), recs.iter().map(|r| r.timestamp).min().unwrap());
        prop_assert_eq!(view.max_timestamp(), recs.iter().map(|r| r.timestamp).max().unwrap());
        prop_assert_eq!(view.compression(), Some(riffle_protocol::batch::Compression::None));
        prop_assert_eq!(BatchIter::new(&bytes).count(), 1);

        let at = 21 + flip_pick % (bytes.len() - 21);
        let mut bad = bytes.to_vec();
        bad[at] ^= flip_xor;
        prop_assert!(RecordBatchView::parse_verified(&bad).is_err(), "flip at {}", at);
    }

    #[test]
    fn random_bytes_never_panic_any_decoder(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&data[..]);
        let mut dec = FrameDecoder::new(1024);
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            let _ = decode_request(f);
        }
        let _ = decode_request(Bytes::from(data.clone()));
        let _ = RecordBatchView::parse_verified(&data);
        for v in BatchIter::new(&data).flatten() {
            let _ = (v.verify_crc(), v.records_bytes(), v.last_offset(), v.compression());
        }
    }

    #[test]
    fn random_bodies_behind_a_supported_preamble_are_errors_or_requests(
        api_index in 0..SUPPORTED_APIS.len(),
        version_pick in any::<u16>(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assert!(
            kafka_protocol_bounds_array_allocations(),
            "kafka-protocol is unpatched: an array count beyond the frame makes it allocate \
             before checking and can abort the process; add the [patch.crates-io] from \
             protocol/vendor/README.md to the root Cargo.toml"
        );
        let api = SUPPORTED_APIS[api_index];
        let span = (api.max_version - api.min_version + 1) as u16;
        let v = api.min_version + (version_pick % span) as i16;
        let mut frame = Vec::new();
        frame.extend_from_slice(&(api.key as i16).to_be_bytes());
        frame.extend_from_slice(&v.to_be_bytes());
        frame.extend_from_slice(&5i32.to_be_bytes());
        frame.extend_from_slice(&body);
        if let Ok(d) = decode_request(Bytes::from(frame)) {
            // Whatever decodes must encode again.
            prop_assert!(encode_request(&d.header, &d.body).is_ok());
        }
    }
}

/// Whether the kafka-protocol in use rejects an array count larger than the bytes left before
/// allocating (protocol/vendor patch). Probed with a count whose allocation is harmless.
fn kafka_protocol_bounds_array_allocations() -> bool {
    // Metadata v0, correlation 1, null client id, topics count 4096 and nothing after it.
    let frame = Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0x10, 0]);
    match decode_request(frame) {
        Err(riffle_protocol::DecodeError::Malformed { reason, .. }) => reason.contains("exceeds"),
        _ => false,
    }
}

#[test]
fn array_count_beyond_the_frame_is_malformed() {
    // A count of 4096 with no bytes left: an error either way; with the vendored patch it is
    // rejected before any allocation (see kafka_protocol_bounds_array_allocations).
    let frame = Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0x10, 0]);
    assert!(matches!(
        decode_request(frame),
        Err(riffle_protocol::DecodeError::Malformed {
            correlation_id: Some(1),
            ..
        })
    ));
}

#[test]
fn every_strict_prefix_of_every_sample_request_is_an_error() {
    for api in SUPPORTED_APIS {
        for v in api.min_version..=api.max_version {
            let frame = encode_request(
                &common::header(api.key, v, 1),
                &common::sample_request(api.key, v),
            )
            .unwrap();
            let body = frame.slice(4..);
            for len in 0..body.len() {
                assert!(
                    decode_request(body.slice(..len)).is_err(),
                    "{:?} v{v} prefix {len} of {} decoded",
                    api.key,
                    body.len()
                );
            }
            let mut dec = FrameDecoder::new(1 << 20);
            for len in 0..frame.len() {
                let mut b = BytesMut::from(&frame[..len]);
                assert_eq!(dec.decode(&mut b), Ok(None));
            }
        }
    }
}

#[test]
fn truncated_record_batches_are_errors() {
    let recs = vec![Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1,
        key: None,
        value: Some(Bytes::from_static(b"hello")),
        headers: IndexMap::new(),
        delete_horizon: false,
    }];
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    assert!(buf.len() > BATCH_HEADER_BYTES);
    for len in 0..buf.len() {
        assert!(RecordBatchView::parse(&buf[..len]).is_err(), "prefix {len}");
        let items: Vec<_> = BatchIter::new(&buf[..len]).collect();
        assert!(items.len() <= 1 && items.iter().all(|r| r.is_err()));
    }
}

#[test]
fn last_offset_saturates_instead_of_overflowing_on_a_huge_base_offset() {
    let recs = vec![
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1,
            key: None,
            value: None,
            headers: IndexMap::new(),
            delete_horizon: false,
        };
        3
    ]
    .into_iter()
    .enumerate()
    .map(|(i, mut r)| {
        r.offset = i as i64;
        r
    })
    .collect::<Vec<_>>();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    riffle_protocol::batch::set_base_offset(&mut buf, i64::MAX);
    let view = RecordBatchView::parse_verified(&buf).unwrap();
    assert_eq!(view.last_offset(), i64::MAX);
}
