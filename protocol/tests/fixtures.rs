//! Frames captured from kcat (librdkafka 2.0.2) and kafka-python decode as expected, and
//! hand-checked golden bytes for the responses whose exact layout matters for interop.

use bytes::Bytes;
use riffle_protocol::batch::BatchIter;
use riffle_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestKind, ResponseKind,
};
use riffle_protocol::kafka_protocol::records::RecordBatchDecoder;
use riffle_protocol::{decode_request, encode_response, DecodeError, DecodedRequest};

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn decode(name: &str) -> DecodedRequest {
    decode_request(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn kcat_api_versions_v3_decodes_with_software_name_and_client_id() {
    let d = decode("kcat_api_versions_v3.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::ApiVersions, 3));
    assert_eq!(d.header.client_id.as_deref(), Some("rdkafka"));
    let RequestKind::ApiVersions(r) = d.body else {
        panic!()
    };
    assert_eq!(&*r.client_software_name, "librdkafka");
    assert_eq!(&*r.client_software_version, "2.0.2");
}

#[test]
fn kcat_metadata_v4_names_the_topic() {
    let d = decode("kcat_metadata_v4.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::Metadata, 4));
    let RequestKind::Metadata(m) = d.body else {
        panic!()
    };
    let names: Vec<_> = m
        .topics
        .unwrap()
        .into_iter()
        .map(|t| t.name.unwrap().0.to_string())
        .collect();
    assert_eq!(names, ["orders"]);
}

fn single_produce_batch(d: DecodedRequest) -> Bytes {
    let RequestKind::Produce(p) = d.body else {
        panic!()
    };
    assert_eq!(p.topic_data.len(), 1);
    assert_eq!(&*p.topic_data[0].name.0, "orders");
    let part = &p.topic_data[0].partition_data[0];
    assert_eq!(part.index, 0);
    part.records.clone().unwrap()
}

fn assert_one_hello_record(records: &Bytes) {
    let views: Vec<_> = BatchIter::new(records).collect::<Result<_, _>>().unwrap();
    assert_eq!(views.len(), 1);
    views[0].verify_crc().unwrap();
    assert_eq!(views[0].record_count(), 1);
    let mut buf = records.clone();
    let set = RecordBatchDecoder::decode(&mut buf).unwrap();
    assert_eq!(set.records.len(), 1);
    assert_eq!(set.records[0].value.as_deref(), Some(&b"hello"[..]));
}

#[test]
fn kcat_produce_v7_carries_a_crc_valid_batch_with_the_value() {
    let d = decode("kcat_produce_v7.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::Produce, 7));
    let records = single_produce_batch(d);
    assert_one_hello_record(&records);
}

#[test]
fn kafka_python_api_versions_v4_is_unsupported_and_keeps_its_correlation_id() {
    let err = decode_request(fixture("kafka_python_api_versions_v4.bin")).unwrap_err();
    assert!(err.is_unsupported_api_versions(), "{err:?}");
    assert!(matches!(
        err,
        DecodeError::UnsupportedVersion {
            api_key: 18,
            api_version: 4,
            correlation_id: 1
        }
    ));
}

#[test]
fn kafka_python_flexible_requests_decode() {
    let d = decode("kafka_python_api_versions_v3.bin");
    assert_eq!(
        d.header.client_id.as_deref(),
        Some("kafka-python-producer-1")
    );
    let d = decode("kafka_python_metadata_v12.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::Metadata, 12));
    let d = decode("kafka_python_init_producer_id_v4.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::InitProducerId, 4));
    let d = decode("kafka_python_produce_v9.bin");
    assert_eq!((d.api_key, d.api_version), (ApiKey::Produce, 9));
    assert_one_hello_record(&single_produce_batch(d));
}

fn api_versions(error_code: i16, keys: &[(i16, i16, i16)]) -> ResponseKind {
    let mut r = ApiVersionsResponse::default();
    r.error_code = error_code;
    r.api_keys = keys
        .iter()
        .map(|&(k, min, max)| {
            riffle_protocol::kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(k)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    r.into()
}

#[test]
fn api_versions_v3_response_omits_defaulted_tagged_fields_and_uses_header_v0() {
    let frame =
        encode_response(7, ApiKey::ApiVersions, 3, &api_versions(0, &[(0, 0, 11)])).unwrap();
    #[rustfmt::skip]
    let want: &[u8] = &[
        0, 0, 0, 19,            // size
        0, 0, 0, 7,             // header v0: correlation id only (no tagged fields)
        0, 0,                   // error_code
        2,                      // compact array: 1 entry
        0, 0, 0, 0, 0, 11, 0,   // Produce 0..=11, no tagged fields
        0, 0, 0, 0,             // throttle_time_ms
        0,                      // no tagged fields: SupportedFeatures etc. omitted
    ];
    assert_eq!(&frame[..], want);
}

#[test]
fn unsupported_api_versions_response_is_v0_with_error_35_and_our_list() {
    let frame = riffle_protocol::encode_unsupported_api_versions_response(9).unwrap();
    let n = riffle_protocol::SUPPORTED_APIS.len();
    assert_eq!(frame.len(), 4 + 4 + 2 + 4 + 6 * n);
    assert_eq!(&frame[4..8], &[0, 0, 0, 9]);
    assert_eq!(&frame[8..10], &[0, 35]);
    assert_eq!(&frame[10..14], &(n as i32).to_be_bytes());
    assert_eq!(&frame[14..20], &[0, 0, 0, 0, 0, 11], "Produce 0..=11 first");
}

#[test]
fn api_versions_v0_response_matches_protocol_guide_layout() {
    let frame =
        encode_response(1, ApiKey::ApiVersions, 0, &api_versions(0, &[(18, 0, 3)])).unwrap();
    let want: &[u8] = &[0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3];
    assert_eq!(&frame[..], want);
}

fn produce_response() -> ResponseKind {
    use riffle_protocol::kafka_protocol::messages::produce_response::*;
    use riffle_protocol::kafka_protocol::messages::TopicName;
    use riffle_protocol::kafka_protocol::protocol::StrBytes;
    let mut r = ProduceResponse::default();
    r.throttle_time_ms = 5;
    r.responses = vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_responses(vec![PartitionProduceResponse::default()
            .with_index(2)
            .with_error_code(35)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)])];
    r.into()
}

#[test]
fn produce_v0_to_v2_responses_are_hand_encoded_per_protocol_guide() {
    #[rustfmt::skip]
    let v0: &[u8] = &[
        0, 0, 0, 29, 0, 0, 0, 4,      // size, correlation id (header v0)
        0, 0, 0, 1, 0, 1, b't',       // [topic "t"
        0, 0, 0, 1, 0, 0, 0, 2, 0, 35, //   [partition 2, error 35
        255, 255, 255, 255, 255, 255, 255, 255, // base_offset -1]]
    ];
    assert_eq!(
        &encode_response(4, ApiKey::Produce, 0, &produce_response()).unwrap()[..],
        v0
    );
    let v1 = encode_response(4, ApiKey::Produce, 1, &produce_response()).unwrap();
    assert_eq!(&v1[4..v0.len()], &v0[4..]);
    assert_eq!(
        &v1[v0.len()..],
        &[0, 0, 0, 5],
        "v1 appends throttle_time_ms"
    );
    assert_eq!(&v1[..4], &[0, 0, 0, 33]);
    let v2 = encode_response(4, ApiKey::Produce, 2, &produce_response()).unwrap();
    assert_eq!(
        &v2[v0.len()..v0.len() + 8],
        &[255; 8],
        "v2 adds log_append_time_ms"
    );
    assert_eq!(v2.len(), v1.len() + 8);
}

#[test]
fn produce_v2_request_decodes_by_hand_for_the_unsupported_version_answer() {
    #[rustfmt::skip]
    let frame: &[u8] = &[
        0, 0, 0, 2, 0, 0, 0, 42, 255, 255, // Produce v2, correlation 42, null client id
        0, 1, 0, 0, 3, 232,                // acks 1, timeout 1000
        0, 0, 0, 1, 0, 1, b't',            // [topic "t"
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xab, 0xcd, // [partition 0, 2 record bytes]]
    ];
    let d = decode_request(Bytes::from_static(frame)).unwrap();
    assert_eq!(
        (d.api_key, d.api_version, d.header.correlation_id),
        (ApiKey::Produce, 2, 42)
    );
    let RequestKind::Produce(p) = d.body else {
        panic!()
    };
    assert_eq!((p.acks, p.timeout_ms), (1, 1000));
    assert_eq!(
        p.topic_data[0].partition_data[0].records.as_deref(),
        Some(&[0xab, 0xcd][..])
    );
}

/// Fuzz reproducer kept from `cargo fuzz run decode_request`: decoded, then re-encoded to a
/// frame that no longer decoded (header tag 0xffffffff stored as -1). Now a decode error.
#[test]
fn fuzz_reproducer_header_tag_overflow_is_rejected() {
    let err = decode_request(fixture("fuzz/decode_request-header-tag-overflow.bin")).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Malformed {
                correlation_id: Some(3),
                ..
            }
        ),
        "{err:?}"
    );
}
