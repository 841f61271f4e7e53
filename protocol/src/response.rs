//! Encoding response frames (size prefix + response header v0/v1 + typed body), and decoding
//! them for clients and tests.
//!
//! `kafka-protocol` 0.18 omits tagged fields that hold their default value (checked for
//! ApiVersionsResponse v3 by golden-bytes tests), which old librdkafka (2.0.2, Debian's kcat)
//! requires, so responses are encoded with it directly. ApiVersions always uses header v0.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::kinds::response_kind_api_key;
use crate::legacy;
use crate::request::{DecodeError, EncodeError};
use crate::versions::{api_versions_list, PRODUCE_MIN_ACCEPTED_VERSION};

/// Kafka error code UNSUPPORTED_VERSION.
pub const UNSUPPORTED_VERSION_ERROR_CODE: i16 = 35;

/// The response header version for `api_key` at `api_version` (0 for ApiVersions, always).
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    }
}

/// Writes the size prefix into the first 4 bytes of `out` (reserved by the caller).
pub(crate) fn finish_frame(mut out: BytesMut) -> Result<Bytes, EncodeError> {
    let size = out.len() - 4;
    let prefix = i32::try_from(size).map_err(|_| EncodeError::TooLarge(size))?;
    out[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(out.freeze())
}

/// Encodes a whole response frame, INCLUDING the 4-byte size prefix. `body` must be the
/// `api_key` variant of [`ResponseKind`].
pub fn encode_response(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &ResponseKind,
) -> Result<Bytes, EncodeError> {
    let err = |reason: String| EncodeError::Message {
        api_key: api_key as i16,
        api_version,
        reason,
    };
    if response_kind_api_key(body) != Some(api_key) {
        return Err(err(format!("body is not a {api_key:?} response")));
    }
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut out, response_header_version(api_key, api_version))
        .map_err(|e| err(format!("{e:#}")))?;
    match body {
        ResponseKind::Produce(p) if api_version < PRODUCE_MIN_ACCEPTED_VERSION => {
            legacy::encode_produce_response_v0_to_v2(p, api_version, &mut out).map_err(err)?
        }
        _ => body
            .encode(&mut out, api_version)
            .map_err(|e| err(format!("{e:#}")))?,
    }
    finish_frame(out)
}

/// The answer to an ApiVersions request of a version we do not support: a v0 response with
/// error UNSUPPORTED_VERSION and the full supported list, as Apache Kafka sends, so the
/// client can retry with a version we know.
pub fn encode_unsupported_api_versions_response(correlation_id: i32) -> Result<Bytes, EncodeError> {
    let mut body = ApiVersionsResponse::default();
    body.error_code = UNSUPPORTED_VERSION_ERROR_CODE;
    body.api_keys = api_versions_list();
    encode_response(
        correlation_id,
        ApiKey::ApiVersions,
        0,
        &ResponseKind::ApiVersions(body),
    )
}

/// Decodes a response frame body (without the size prefix) of a request we sent as
/// `api_key` v`api_version`; trailing bytes are an error.
pub fn decode_response(
    api_key: ApiKey,
    api_version: i16,
    frame: Bytes,
) -> Result<(ResponseHeader, ResponseKind), DecodeError> {
    let mut buf = frame;
    let bad = |correlation_id: Option<i32>, reason: String| DecodeError::Malformed {
        api_key: Some(api_key as i16),
        correlation_id,
        reason,
    };
    let header_version = response_header_version(api_key, api_version);
    let header = ResponseHeader::decode(&mut buf, header_version)
        .map_err(|e| bad(None, format!("response header v{header_version}: {e:#}")))?;
    let cid = Some(header.correlation_id);
    let body = if api_key == ApiKey::Produce && api_version < PRODUCE_MIN_ACCEPTED_VERSION {
        ResponseKind::Produce(
            legacy::decode_produce_response_v0_to_v2(&mut buf, api_version)
                .map_err(|r| bad(cid, r))?,
        )
    } else {
        ResponseKind::decode(api_key, &mut buf, api_version)
            .map_err(|e| bad(cid, format!("{e:#}")))?
    };
    if buf.has_remaining() {
        return Err(bad(
            cid,
            format!("{} trailing bytes after the body", buf.remaining()),
        ));
    }
    Ok((header, body))
}
