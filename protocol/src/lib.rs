//! Sans-io Kafka wire protocol for Riffle: frames, request headers, typed messages (via the
//! `kafka-protocol` crate) and zero-copy record-batch views. No sockets, clocks or tokio here.

pub mod batch;
pub mod frame;
mod kinds;
mod legacy;
pub mod request;
pub mod response;
pub mod versions;

pub use frame::{FrameDecoder, FrameError, DEFAULT_MAX_FRAME_BYTES};
pub use kafka_protocol;
pub use kinds::{request_kind_api_key, response_kind_api_key};
pub use request::{decode_request, encode_request, DecodeError, DecodedRequest, EncodeError};
pub use response::{decode_response, encode_response, encode_unsupported_api_versions_response};
pub use versions::{supported_range, ApiSupport, SUPPORTED_APIS};
