//! Every supported API at every supported version: a populated request encodes to bytes that
//! `decode_request` decodes back equal; hex snapshots pin the bytes at min and max version.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::Bytes;
use common::{header, sample_request};
use riffle_protocol::kafka_protocol::messages::{ApiKey, ResponseKind};
use riffle_protocol::{
    decode_request, decode_response, encode_request, encode_response, SUPPORTED_APIS,
};

fn to_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        write!(s, "{x:02x}").unwrap();
    }
    s
}

#[test]
fn every_supported_request_version_round_trips_through_decode_request() {
    let mut checked = 0;
    for api in SUPPORTED_APIS {
        for v in api.min_version..=api.max_version {
            let req = sample_request(api.key, v);
            let h = header(api.key, v, 1000 + v as i32);
            let frame = encode_request(&h, &req)
                .unwrap_or_else(|e| panic!("{:?} v{v}: encode failed: {e}", api.key));
            let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            assert_eq!(size as usize, frame.len() - 4);
            let d = decode_request(frame.slice(4..))
                .unwrap_or_else(|e| panic!("{:?} v{v}: decode failed: {e}", api.key));
            assert_eq!(d.api_key, api.key);
            assert_eq!(d.api_version, v);
            assert_eq!(d.header, h, "{:?} v{v} header", api.key);
            assert_eq!(d.body, req, "{:?} v{v} body", api.key);
            checked += 1;
        }
    }
    let expected: i32 = SUPPORTED_APIS
        .iter()
        .map(|a| i32::from(a.max_version - a.min_version + 1))
        .sum();
    assert_eq!(checked, expected);
    assert!(checked >= 140, "only {checked} versions checked");
}

#[test]
fn every_supported_default_response_version_round_trips_through_decode_response() {
    for api in SUPPORTED_APIS {
        for v in api.min_version..=api.max_version {
            let body = default_response(api.key);
            let frame = encode_response(77, api.key, v, &body)
                .unwrap_or_else(|e| panic!("{:?} v{v}: encode failed: {e}", api.key));
            let (h, back) = decode_response(api.key, v, frame.slice(4..))
                .unwrap_or_else(|e| panic!("{:?} v{v}: decode failed: {e}", api.key));
            assert_eq!(h.correlation_id, 77);
            assert_eq!(back, body, "{:?} v{v}", api.key);
        }
    }
}

pub fn default_response(key: ApiKey) -> ResponseKind {
    use riffle_protocol::kafka_protocol::messages::*;
    match key {
        ApiKey::Produce => ProduceResponse::default().into(),
        ApiKey::Fetch => FetchResponse::default().into(),
        ApiKey::ListOffsets => ListOffsetsResponse::default().into(),
        ApiKey::Metadata => MetadataResponse::default().into(),
        ApiKey::OffsetCommit => OffsetCommitResponse::default().into(),
        ApiKey::OffsetFetch => OffsetFetchResponse::default().into(),
        ApiKey::FindCoordinator => FindCoordinatorResponse::default().into(),
        ApiKey::JoinGroup => JoinGroupResponse::default().into(),
        ApiKey::Heartbeat => HeartbeatResponse::default().into(),
        ApiKey::LeaveGroup => LeaveGroupResponse::default().into(),
        ApiKey::SyncGroup => SyncGroupResponse::default().into(),
        ApiKey::DescribeGroups => DescribeGroupsResponse::default().into(),
        ApiKey::ListGroups => ListGroupsResponse::default().into(),
        ApiKey::ApiVersions => ApiVersionsResponse::default().into(),
        ApiKey::CreateTopics => CreateTopicsResponse::default().into(),
        ApiKey::DeleteTopics => DeleteTopicsResponse::default().into(),
        ApiKey::DeleteRecords => DeleteRecordsResponse::default().into(),
        ApiKey::InitProducerId => InitProducerIdResponse::default().into(),
        ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochResponse::default().into(),
        ApiKey::DescribeConfigs => DescribeConfigsResponse::default().into(),
        ApiKey::AlterConfigs => AlterConfigsResponse::default().into(),
        ApiKey::CreatePartitions => CreatePartitionsResponse::default().into(),
        ApiKey::DeleteGroups => DeleteGroupsResponse::default().into(),
        ApiKey::OffsetDelete => OffsetDeleteResponse::default().into(),
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsResponse::default().into(),
        ApiKey::DescribeCluster => DescribeClusterResponse::default().into(),
        ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse::default().into(),
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeResponse::default().into(),
        other => panic!("no default response for {other:?}"),
    }
}

/// Hex of the request and (default) response frames at each API's min and max version, one
/// line each. Compared with tests/fixtures/snapshots.txt; set UPDATE_SNAPSHOTS=1 to rewrite.
#[test]
fn request_and_response_bytes_match_hex_snapshots_at_min_and_max_version() {
    let mut out = String::new();
    for api in SUPPORTED_APIS {
        for v in [api.min_version, api.max_version] {
            let req = encode_request(
                &header(api.key, v, 0x0102_0304),
                &sample_request(api.key, v),
            )
            .unwrap();
            let resp =
                encode_response(0x0102_0304, api.key, v, &default_response(api.key)).unwrap();
            writeln!(out, "{:?} v{v} request {}", api.key, to_hex(&req)).unwrap();
            writeln!(out, "{:?} v{v} response {}", api.key, to_hex(&resp)).unwrap();
        }
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshots.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("snapshot file (UPDATE_SNAPSHOTS=1 creates it)");
    for (got, want) in out.lines().zip(want.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(out.lines().count(), want.lines().count());
}

#[test]
fn hex_helper_is_lowercase_two_digits_per_byte() {
    assert_eq!(to_hex(&Bytes::from_static(&[0, 0xab, 7])), "00ab07");
}
