//! The Kafka listener: accepts connections, reads size-prefixed frames, dispatches requests
//! and writes responses in request order. A connection that sends a malformed or oversized
//! frame is closed with a log line naming the peer; other connections are unaffected.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use riffle_protocol::frame::FrameDecoder;
use riffle_protocol::request::{decode_request, DecodeError};
use riffle_protocol::response::encode_response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{self, Reply};
use crate::state::Broker;

/// Requests of one connection being handled at once (their responses go out in order).
pub const INFLIGHT_REQUESTS_MAX: usize = 16;
/// Bytes read from a socket per read call at most.
const READ_CHUNK_BYTES: usize = 64 * 1024;

type PendingResponse = Pin<Box<dyn Future<Output = Option<Bytes>> + Send>>;

/// Accepts connections until the listener fails.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let broker = broker.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_connection(broker, stream, peer).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

enum Closing {
    Yes(String),
}

async fn handle_connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let _connection = crate::metrics::ConnectionGuard::open();
    let (mut rd, mut wr) = stream.into_split();
    let max_frame = broker.config.read().socket_request_max_bytes.max(1) as usize;
    let mut decoder = FrameDecoder::new(max_frame);
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut inflight: FuturesOrdered<PendingResponse> = FuturesOrdered::new();
    let mut eof = false;
    loop {
        while inflight.len() < INFLIGHT_REQUESTS_MAX {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => match process(&broker, frame, peer).await {
                    Ok(pending) => inflight.push_back(pending),
                    Err(Closing::Yes(reason)) => {
                        tracing::warn!(%peer, "closing connection: {reason}");
                        // Answer what was accepted before the bad frame, then close.
                        while let Some(resp) = inflight.next().await {
                            if let Some(bytes) = resp {
                                wr.write_all(&bytes).await?;
                            }
                        }
                        return Ok(());
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, "closing connection: bad frame: {e}");
                    return Ok(());
                }
            }
        }
        if eof {
            while let Some(resp) = inflight.next().await {
                if let Some(bytes) = resp {
                    wr.write_all(&bytes).await?;
                }
            }
            return Ok(());
        }
        let can_read = inflight.len() < INFLIGHT_REQUESTS_MAX;
        tokio::select! {
            r = read_some(&mut rd, &mut buf), if can_read => {
                if r? == 0 {
                    eof = true;
                }
            }
            Some(resp) = inflight.next(), if !inflight.is_empty() => {
                if let Some(bytes) = resp {
                    wr.write_all(&bytes).await?;
                }
            }
        }
    }
}

async fn read_some(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(READ_CHUNK_BYTES);
    }
    rd.read_buf(buf).await
}

fn encode(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &ResponseKind,
) -> Option<Bytes> {
    match encode_response(correlation_id, api_key, version, body) {
        Ok(b) => Some(b),
        Err(e) => {
            // Our own response failed to encode: a bug. Log it; the client times out and retries.
            tracing::error!(?api_key, version, "cannot encode response: {e}");
            None
        }
    }
}

async fn process(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: SocketAddr,
) -> Result<PendingResponse, Closing> {
    let req = match decode_request(frame) {
        Ok(r) => r,
        Err(DecodeError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
        }) if api_key == ApiKey::ApiVersions as i16 => {
            // KIP-511: answer an unknown ApiVersions version with v0 and our ranges.
            tracing::debug!(%peer, api_version, "ApiVersions version unsupported; answering v0");
            let body = ResponseKind::ApiVersions(api::api_versions::unsupported_version_response());
            let bytes = encode(correlation_id, ApiKey::ApiVersions, 0, &body);
            return Ok(Box::pin(async move { bytes }));
        }
        Err(e) => return Err(Closing::Yes(e.to_string())),
    };
    let correlation_id = req.header.correlation_id;
    let api_key = req.api_key;
    let version = req.api_version;
    tracing::trace!(%peer, ?api_key, version, correlation_id, "request");
    if req.trailing_bytes > 0 {
        tracing::debug!(%peer, ?api_key, version, trailing = req.trailing_bytes, "ignoring bytes after the request body");
    }
    let observation = crate::metrics::observe_request(broker, &req);
    match api::dispatch(broker, req).await {
        Reply::None => {
            observation.finish(broker, None);
            Ok(Box::pin(async { None }))
        }
        Reply::Now(body) => {
            observation.finish(broker, Some(&body));
            let bytes = encode(correlation_id, api_key, version, &body);
            Ok(Box::pin(async move { bytes }))
        }
        Reply::Later(fut) => {
            let broker = broker.clone();
            Ok(Box::pin(async move {
                let body = fut.await;
                observation.finish(&broker, Some(&body));
                encode(correlation_id, api_key, version, &body)
            }))
        }
        Reply::Close(reason) => Err(Closing::Yes(reason)),
    }
}
