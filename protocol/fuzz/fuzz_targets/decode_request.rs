//! Fuzz: frame decoder, then decode_request on each frame, then re-encode whatever decoded.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use riffle_protocol::{decode_request, encode_request, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    // As a stream of frames.
    let mut buf = BytesMut::from(data);
    let mut frames = FrameDecoder::new(1 << 20);
    while let Ok(Some(frame)) = frames.decode(&mut buf) {
        check(frame);
    }
    // As one frame body.
    check(bytes::Bytes::copy_from_slice(data));
});

fn check(frame: bytes::Bytes) {
    if let Ok(d) = decode_request(frame) {
        let again = encode_request(&d.header, &d.body).expect("a decoded request re-encodes");
        let back = decode_request(again.slice(4..)).expect("a re-encoded request decodes");
        assert_eq!(back.body, d.body);
        assert_eq!(back.header, d.header);
    }
}
