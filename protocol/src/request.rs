//! Decoding request frames (header + typed body) and, for tests and clients, encoding them.
//!
//! Order of checks: the first 8 bytes (api key, api version, correlation id) are read raw, so
//! an unsupported key or version is reported with its correlation id before anything else is
//! parsed; then the request header (v1 or v2, from `ApiKey::request_header_version`) and the
//! body; leftover bytes make the frame malformed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::kinds::request_kind_api_key;
use crate::legacy;
use crate::versions::{is_supported, PRODUCE_MIN_ACCEPTED_VERSION};

/// Bytes at the start of every request: api key (i16), api version (i16), correlation id (i32).
pub const REQUEST_PREAMBLE_BYTES: usize = 8;

/// A fully decoded request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// Bytes left after the body (ignored, as Kafka does).
    pub trailing_bytes: usize,
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub body: RequestKind,
}

/// Why a request frame could not be decoded. Never fatal to the process; what the broker does
/// (answer UNSUPPORTED_VERSION, or close the connection) is its choice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The api key is unknown or not served, or the version is outside the advertised range.
    /// For ApiVersions the broker answers with a v0 response carrying error 35 and the list.
    #[error(
        "unsupported api key {api_key} version {api_version} (correlation id {correlation_id})"
    )]
    UnsupportedVersion {
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
    },
    /// Truncated, garbage or trailing bytes.
    #[error(
        "malformed request (api key {api_key:?}, correlation id {correlation_id:?}): {reason}"
    )]
    Malformed {
        api_key: Option<i16>,
        correlation_id: Option<i32>,
        reason: String,
    },
}

impl DecodeError {
    /// The correlation id, if the frame was long enough to carry one.
    pub fn correlation_id(&self) -> Option<i32> {
        match self {
            DecodeError::UnsupportedVersion { correlation_id, .. } => Some(*correlation_id),
            DecodeError::Malformed { correlation_id, .. } => *correlation_id,
        }
    }

    /// Whether this is an ApiVersions request of a version we do not support, which Kafka
    /// answers (v0 format, error UNSUPPORTED_VERSION, full list) instead of closing.
    pub fn is_unsupported_api_versions(&self) -> bool {
        matches!(self, DecodeError::UnsupportedVersion { api_key, .. }
            if *api_key == ApiKey::ApiVersions as i16)
    }
}

/// Why a message could not be encoded (a broker bug, not bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode api key {api_key} version {api_version}: {reason}")]
    Message {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
    #[error("encoded frame of {0} bytes does not fit an i32 size prefix")]
    TooLarge(usize),
}

fn malformed(api_key: Option<i16>, correlation_id: Option<i32>, reason: String) -> DecodeError {
    DecodeError::Malformed {
        api_key,
        correlation_id,
        reason,
    }
}

/// Decodes one request frame body (without the 4-byte size prefix).
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, DecodeError> {
    if frame.len() < REQUEST_PREAMBLE_BYTES {
        let api_key = frame.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
        return Err(malformed(
            api_key,
            None,
            format!(
                "frame of {} bytes is shorter than the {REQUEST_PREAMBLE_BYTES}-byte request preamble",
                frame.len()
            ),
        ));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let unsupported = DecodeError::UnsupportedVersion {
        api_key: raw_key,
        api_version,
        correlation_id,
    };
    let Ok(api_key) = ApiKey::try_from(raw_key) else {
        return Err(unsupported);
    };
    if !is_supported(api_key, api_version) {
        return Err(unsupported);
    }
    let bad = |reason: String| malformed(Some(raw_key), Some(correlation_id), reason);

    let mut buf = frame;
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut buf, header_version)
        .map_err(|e| bad(format!("request header v{header_version}: {e:#}")))?;
    // kafka-protocol 0.18 (unpatched) turns a tag above i32::MAX into a negative key that it
    // then cannot re-encode; Kafka tags are non-negative i32s.
    if let Some(tag) = header.unknown_tagged_fields.keys().find(|t| **t < 0) {
        return Err(bad(format!(
            "request header tagged field tag {} out of range",
            *tag as u32
        )));
    }
    let body = if api_key == ApiKey::Produce && api_version < PRODUCE_MIN_ACCEPTED_VERSION {
        RequestKind::Produce(legacy::decode_produce_v0_to_v2(&mut buf).map_err(bad)?)
    } else {
        RequestKind::decode(api_key, &mut buf, api_version).map_err(|e| bad(format!("{e:#}")))?
    };
    // Bytes after the body are ignored, as Apache Kafka's parser does: librdkafka 2.x sends
    // Metadata v12 with three extra bytes (see the test below).
    let trailing_bytes = buf.remaining();
    Ok(DecodedRequest {
        trailing_bytes,
        header,
        api_key,
        api_version,
        body,
    })
}

/// Encodes a whole request frame, including the 4-byte size prefix. The api key and version
/// come from `header`; `body` must be the matching [`RequestKind`] variant.
pub fn encode_request(header: &RequestHeader, body: &RequestKind) -> Result<Bytes, EncodeError> {
    let api_version = header.request_api_version;
    let err = |reason: String| EncodeError::Message {
        api_key: header.request_api_key,
        api_version,
        reason,
    };
    let api_key = ApiKey::try_from(header.request_api_key)
        .map_err(|()| err("unknown api key".to_string()))?;
    if request_kind_api_key(body) != Some(api_key) {
        return Err(err(format!("body is not a {api_key:?} request")));
    }
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    let header_version = api_key.request_header_version(api_version);
    header
        .encode(&mut out, header_version)
        .map_err(|e| err(format!("{e:#}")))?;
    match body {
        RequestKind::Produce(p) if api_version < PRODUCE_MIN_ACCEPTED_VERSION => {
            legacy::encode_produce_request_v0_to_v2(p, &mut out).map_err(err)?
        }
        _ => body
            .encode(&mut out, api_version)
            .map_err(|e| err(format!("{e:#}")))?,
    }
    crate::response::finish_frame(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::StrBytes;

    fn header(key: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
        let mut h = RequestHeader::default();
        h.request_api_key = key as i16;
        h.request_api_version = version;
        h.correlation_id = correlation_id;
        h.client_id = Some(StrBytes::from_static_str("t"));
        h
    }

    fn body_of(frame: Bytes) -> Bytes {
        frame.slice(4..)
    }

    #[test]
    fn decode_request_reads_api_versions_v3_header_and_body() {
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("kcat");
        req.client_software_version = StrBytes::from_static_str("1.7");
        let frame = encode_request(
            &header(ApiKey::ApiVersions, 3, 7),
            &RequestKind::ApiVersions(req.clone()),
        )
        .unwrap();
        let d = decode_request(body_of(frame)).unwrap();
        assert_eq!(d.api_key, ApiKey::ApiVersions);
        assert_eq!(d.api_version, 3);
        assert_eq!(d.header.correlation_id, 7);
        assert_eq!(d.body, RequestKind::ApiVersions(req));
    }

    #[test]
    fn decode_request_reports_unsupported_api_versions_version_with_correlation_id() {
        // ApiVersions v9 with a body we cannot parse: only the preamble matters.
        let frame = Bytes::from_static(&[0, 18, 0, 9, 0, 0, 1, 2, 0xde, 0xad]);
        let err = decode_request(frame).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnsupportedVersion {
                api_key: 18,
                api_version: 9,
                correlation_id: 258
            }
        );
        assert!(err.is_unsupported_api_versions());
        assert_eq!(err.correlation_id(), Some(258));
    }

    #[test]
    fn decode_request_reports_unknown_and_unserved_api_keys_as_unsupported() {
        let unknown = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 5]);
        assert!(matches!(
            decode_request(unknown),
            Err(DecodeError::UnsupportedVersion {
                api_key: 0x7f00,
                correlation_id: 5,
                ..
            })
        ));
        // SaslHandshake (17) is known to kafka-protocol but not served.
        let unserved = Bytes::from_static(&[0, 17, 0, 1, 0, 0, 0, 6]);
        assert!(matches!(
            decode_request(unserved),
            Err(DecodeError::UnsupportedVersion {
                api_key: 17,
                correlation_id: 6,
                ..
            })
        ));
        // Fetch v3 is below our range.
        let old = Bytes::from_static(&[0, 1, 0, 3, 0, 0, 0, 7]);
        assert!(matches!(
            decode_request(old),
            Err(DecodeError::UnsupportedVersion {
                api_key: 1,
                api_version: 3,
                ..
            })
        ));
    }

    #[test]
    fn decode_request_ignores_trailing_bytes_as_kafka_does() {
        let frame = encode_request(
            &header(ApiKey::Metadata, 1, 9),
            &RequestKind::Metadata(MetadataRequest::default()),
        )
        .unwrap();
        let mut body = BytesMut::from(&frame[4..]);
        body.put_u8(0);
        let d = decode_request(body.freeze()).unwrap();
        assert_eq!(d.trailing_bytes, 1);
        assert_eq!(d.header.correlation_id, 9);
    }

    #[test]
    fn decode_request_accepts_null_client_id() {
        let mut h = header(ApiKey::Metadata, 4, 1);
        h.client_id = None;
        let frame = encode_request(&h, &RequestKind::Metadata(MetadataRequest::default())).unwrap();
        let d = decode_request(body_of(frame)).unwrap();
        assert_eq!(d.header.client_id, None);
    }

    #[test]
    fn decode_request_rejects_short_preamble_without_panicking() {
        for len in 0..REQUEST_PREAMBLE_BYTES {
            let err = decode_request(Bytes::from(vec![0u8; len])).unwrap_err();
            assert!(matches!(
                err,
                DecodeError::Malformed {
                    correlation_id: None,
                    ..
                }
            ));
        }
    }

    /// Fuzz reproducer (decode_request target): a header v2 tag of 0xffffffff decoded as key
    /// -1, which re-encoded to a frame that no longer decoded.
    #[test]
    fn decode_request_rejects_header_tag_above_i32_max() {
        let frame: &[u8] = &[
            0, 3, 0, 12, 0, 0, 0, 3, 0, 1, b'x', // Metadata v12, correlation 3, client "x"
            1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, // 1 tagged field: tag 0xffffffff, size 0
            1, 1, 0, 0, // topics [], allow_auto_topic_creation, include_topic_ops, no tags
        ];
        let err = decode_request(Bytes::from_static(frame)).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Malformed { reason, .. } if reason.contains("4294967295")),
            "{err:?}"
        );
    }

    #[test]
    fn encode_request_rejects_a_body_of_another_api() {
        let err = encode_request(
            &header(ApiKey::Fetch, 4, 1),
            &RequestKind::Metadata(MetadataRequest::default()),
        )
        .unwrap_err();
        assert!(matches!(err, EncodeError::Message { api_key: 1, .. }));
    }
}
