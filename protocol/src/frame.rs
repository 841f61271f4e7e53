//! Sans-io framing of the Kafka wire protocol: a big-endian i32 size prefix, then that many bytes.

use bytes::{Buf, Bytes, BytesMut};

/// Default largest accepted request frame body (Kafka's `socket.request.max.bytes`).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Bytes of the size prefix in front of every frame.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// Most the decoder reserves ahead for a partially received frame, whatever size it claims.
const RESERVE_AHEAD_MAX_BYTES: usize = 64 * 1024;

/// A frame size prefix the caller must treat as fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: i64, max: usize },
    #[error("frame size {0} is negative")]
    Negative(i32),
}

/// Splits a byte stream into frame bodies. Holds no buffered data itself: the caller owns `buf`.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder that rejects frame bodies larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            max_frame_bytes: max,
        }
    }

    /// The largest frame body this decoder accepts.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Removes and returns the next complete frame body (without its size prefix) from `buf`,
    /// or `Ok(None)` if more bytes are needed. A negative or over-max size is an error as soon
    /// as the 4 prefix bytes are present; `buf` is then left untouched.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = buf.get(..FRAME_PREFIX_BYTES) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if size < 0 {
            return Err(FrameError::Negative(size));
        }
        let size = size as usize;
        if size > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                size: size as i64,
                max: self.max_frame_bytes,
            });
        }
        let total = FRAME_PREFIX_BYTES + size;
        if buf.len() < total {
            // Reserve a bounded amount: the claimed size is untrusted until the bytes arrive.
            let missing = total - buf.len();
            buf.reserve(missing.min(RESERVE_AHEAD_MAX_BYTES));
            return Ok(None);
        }
        buf.advance(FRAME_PREFIX_BYTES);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

/// Prepends the 4-byte size prefix to `body` (used by tests and clients of this crate).
pub fn encode_frame(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(FRAME_PREFIX_BYTES + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_returns_none_until_prefix_and_body_are_complete() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[3, b'a', b'b']);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 6, "an incomplete frame is not consumed");
        buf.extend_from_slice(b"cXY");
        assert_eq!(dec.decode(&mut buf), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(&buf[..], b"XY");
    }

    #[test]
    fn decode_yields_back_to_back_frames_in_order_including_empty_ones() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&encode_frame(b"one"));
        buf.extend_from_slice(&encode_frame(b""));
        buf.extend_from_slice(&encode_frame(b"three"));
        assert_eq!(dec.decode(&mut buf), Ok(Some(Bytes::from_static(b"one"))));
        assert_eq!(dec.decode(&mut buf), Ok(Some(Bytes::new())));
        assert_eq!(dec.decode(&mut buf), Ok(Some(Bytes::from_static(b"three"))));
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn decode_rejects_negative_size_from_prefix_alone() {
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::Negative(-2)));
    }

    #[test]
    fn decode_rejects_over_max_size_without_reserving_it() {
        let mut dec = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&[0, 0, 0, 101][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::TooLarge {
                size: 101,
                max: 100
            })
        );
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&0x7fff_ffff_i32.to_be_bytes()[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(buf.capacity() < 1024 * 1024);
    }

    #[test]
    fn decode_reserves_at_most_a_bounded_amount_for_a_large_claimed_frame() {
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&(50_000_000_i32).to_be_bytes()[..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(
            buf.capacity() <= 2 * RESERVE_AHEAD_MAX_BYTES,
            "{}",
            buf.capacity()
        );
    }

    #[test]
    fn decode_accepts_a_frame_of_exactly_max_bytes() {
        let mut dec = FrameDecoder::new(5);
        let mut buf = BytesMut::from(&encode_frame(b"12345")[..]);
        assert_eq!(dec.decode(&mut buf), Ok(Some(Bytes::from_static(b"12345"))));
    }
}
