//! The node-to-node transport: length-prefixed frames over TCP on a listener of its own, one
//! connection per node pair carrying the Raft RPCs of every partition group (multiplexed by a
//! group id), bounded queues, and reconnection with exponential backoff.
//!
//! Connection ownership: the node with the lower id dials, the higher id accepts; both then
//! send requests over the one connection and match responses by correlation id. A node
//! without a live connection to a peer fails RPCs to it at once as `Unreachable` (openraft
//! retries with its backoff).
//!
//! Frames (all integers big-endian): `u32 length` of what follows, then
//! - hello   `0u8, u32 TRANSPORT_MAGIC, u64 node id` (first frame of the dialer);
//! - request `1u8, u64 correlation, u64 group, u8 rpc (1 append, 2 vote, 3 snapshot), body`;
//! - response `2u8, u64 correlation, u8 status (0 ok, 1 Raft error, 2 unknown group,
//!   3 undecodable request), body`;
//!
//! where body = `u32 json length, JSON, u32 blob count, (u32 length, bytes)*`. Record batches
//! travel as blobs, byte for byte (never inside the JSON): an AppendEntries' data entries are
//! sent with an empty payload in the JSON and their batches as blobs, in entry order.
//!
//! Invariant: nothing from the network panics or allocates more than `FRAME_BYTES_MAX`; a
//! malformed frame closes that one connection with a log line naming the peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    ClientWriteError, InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, EntryPayload, Raft};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::types::PartitionRaft;
use crate::NodeId;

/// Identifies a Raft group on every node (the broker maps topic-partitions to group ids).
pub type GroupId = u64;

/// The largest frame accepted or sent.
pub const FRAME_BYTES_MAX: u32 = 64 << 20;
/// Frames waiting to be written to one peer.
pub const PEER_SEND_QUEUE_FRAMES_MAX: usize = 1024;
/// Requests to one peer awaiting a response.
pub const PEER_PENDING_REQUESTS_MAX: usize = 4096;
/// Blobs in one frame body.
const BODY_BLOBS_MAX: u32 = 1 << 16;
/// Reconnection backoff bounds (doubling from min to max).
pub const RECONNECT_BACKOFF_MIN_MS: u64 = 20;
pub const RECONNECT_BACKOFF_MAX_MS: u64 = 2000;
/// How long an accepted connection may take to say hello.
const HELLO_TIMEOUT_MS: u64 = 5000;
/// First field of a hello frame ("RFLT").
pub const TRANSPORT_MAGIC: u32 = 0x5246_4c54;

const FRAME_HELLO: u8 = 0;
const FRAME_REQUEST: u8 = 1;
const FRAME_RESPONSE: u8 = 2;

const RPC_APPEND: u8 = 1;
const RPC_VOTE: u8 = 2;
const RPC_SNAPSHOT: u8 = 3;
/// A client write forwarded to the group's leader (body: the batch as blob 0).
const RPC_WRITE: u8 = 4;

const STATUS_OK: u8 = 0;
const STATUS_RAFT_ERROR: u8 = 1;
const STATUS_UNKNOWN_GROUP: u8 = 2;
const STATUS_BAD_REQUEST: u8 = 3;

/// A frame that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame truncated: needed {needed} bytes, {available} left")]
    Truncated { needed: usize, available: usize },
    #[error("frame of {0} bytes exceeds the maximum")]
    TooLarge(u64),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("bad hello: {0}")]
    BadHello(String),
    #[error("bad JSON: {0}")]
    Json(String),
    #[error("{0} blobs for {1} data entries")]
    BlobCount(usize, usize),
}

/// A decoded frame (after its length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello {
        node_id: NodeId,
    },
    Request {
        correlation: u64,
        group: GroupId,
        rpc: u8,
        body: Body,
    },
    Response {
        correlation: u64,
        status: u8,
        body: Body,
    },
}

/// A frame body: JSON plus raw blobs (record batches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub json: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.buf.len() < n {
            return Err(FrameError::Truncated {
                needed: n,
                available: self.buf.len(),
            });
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn body(&mut self) -> Result<Body, FrameError> {
        let n = self.u32()? as usize;
        let json = self.take(n)?.to_vec();
        let count = self.u32()?;
        if count > BODY_BLOBS_MAX {
            return Err(FrameError::TooLarge(count as u64));
        }
        let mut blobs = Vec::new();
        for _ in 0..count {
            let n = self.u32()? as usize;
            blobs.push(self.take(n)?.to_vec());
        }
        Ok(Body { json, blobs })
    }
}

impl Frame {
    /// Encodes the frame with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; 4];
        match self {
            Frame::Hello { node_id } => {
                out.push(FRAME_HELLO);
                out.extend_from_slice(&TRANSPORT_MAGIC.to_be_bytes());
                out.extend_from_slice(&node_id.to_be_bytes());
            }
            Frame::Request {
                correlation,
                group,
                rpc,
                body,
            } => {
                out.push(FRAME_REQUEST);
                out.extend_from_slice(&correlation.to_be_bytes());
                out.extend_from_slice(&group.to_be_bytes());
                out.push(*rpc);
                encode_body(&mut out, body);
            }
            Frame::Response {
                correlation,
                status,
                body,
            } => {
                out.push(FRAME_RESPONSE);
                out.extend_from_slice(&correlation.to_be_bytes());
                out.push(*status);
                encode_body(&mut out, body);
            }
        }
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// Decodes a frame's bytes (after the length prefix).
    pub fn decode(buf: &[u8]) -> Result<Frame, FrameError> {
        let mut r = Reader { buf };
        let frame = match r.u8()? {
            FRAME_HELLO => {
                let magic = r.u32()?;
                if magic != TRANSPORT_MAGIC {
                    return Err(FrameError::BadHello(format!("magic {magic:#x}")));
                }
                Frame::Hello { node_id: r.u64()? }
            }
            FRAME_REQUEST => Frame::Request {
                correlation: r.u64()?,
                group: r.u64()?,
                rpc: r.u8()?,
                body: r.body()?,
            },
            FRAME_RESPONSE => Frame::Response {
                correlation: r.u64()?,
                status: r.u8()?,
                body: r.body()?,
            },
            k => return Err(FrameError::UnknownKind(k)),
        };
        Ok(frame)
    }
}

fn encode_body(out: &mut Vec<u8>, body: &Body) {
    out.extend_from_slice(&(body.json.len() as u32).to_be_bytes());
    out.extend_from_slice(&body.json);
    out.extend_from_slice(&(body.blobs.len() as u32).to_be_bytes());
    for b in &body.blobs {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > FRAME_BYTES_MAX {
        return Err(std::io::Error::other(FrameError::TooLarge(len as u64)));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await?;
    Frame::decode(&buf).map(Some).map_err(std::io::Error::other)
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // openraft's messages serialise infallibly (plain data, string map keys not needed).
    serde_json::to_vec(v).unwrap_or_default()
}

fn from_json<T: DeserializeOwned>(b: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(b).map_err(|e| FrameError::Json(e.to_string()))
}

/// An AppendEntries request as a body: batches as blobs.
pub fn encode_append(mut rpc: AppendEntriesRequest<PartitionRaft>) -> Body {
    let mut blobs = Vec::new();
    for e in &mut rpc.entries {
        if let EntryPayload::Normal(d) = &mut e.payload {
            blobs.push(std::mem::take(d));
        }
    }
    Body {
        json: to_json(&rpc),
        blobs,
    }
}

/// The inverse of [`encode_append`].
pub fn decode_append(body: Body) -> Result<AppendEntriesRequest<PartitionRaft>, FrameError> {
    let mut rpc: AppendEntriesRequest<PartitionRaft> = from_json(&body.json)?;
    let data = rpc
        .entries
        .iter()
        .filter(|e| matches!(e.payload, EntryPayload::Normal(_)))
        .count();
    if data != body.blobs.len() {
        return Err(FrameError::BlobCount(body.blobs.len(), data));
    }
    let mut blobs = body.blobs.into_iter();
    for e in &mut rpc.entries {
        if let EntryPayload::Normal(d) = &mut e.payload {
            if let Some(b) = blobs.next() {
                *d = b;
            }
        }
    }
    Ok(rpc)
}

fn json_body<T: Serialize>(v: &T) -> Body {
    Body {
        json: to_json(v),
        blobs: Vec::new(),
    }
}

/// One live connection to a peer.
struct PeerConn {
    generation: u64,
    tx: mpsc::Sender<Vec<u8>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<(u8, Body)>>>,
    /// Wakes the reader to close the connection (replaced, dropped, shut down).
    close: Arc<Notify>,
}

struct Inner {
    node_id: NodeId,
    local_addr: SocketAddr,
    groups: RwLock<HashMap<GroupId, Raft<PartitionRaft>>>,
    guard: RwLock<Arc<crate::vote_guard::VoteGuard>>,
    conns: Mutex<HashMap<NodeId, Arc<PeerConn>>>,
    next_id: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// This node's end of the node-to-node transport.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl Transport {
    /// Binds the replication listener and starts accepting peers.
    pub async fn bind(node_id: NodeId, listen: SocketAddr) -> std::io::Result<Transport> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let t = Transport {
            inner: Arc::new(Inner {
                node_id,
                local_addr,
                groups: RwLock::new(HashMap::new()),
                guard: RwLock::new(Arc::new(crate::vote_guard::VoteGuard::new(false))),
                conns: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let weak = Arc::downgrade(&t.inner);
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // e.g. out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "replication listener accept failed");
                        tokio::time::sleep(Duration::from_millis(RECONNECT_BACKOFF_MIN_MS)).await;
                        continue;
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                let t = Transport { inner };
                tokio::spawn(async move {
                    if let Err(e) = t.accept(stream).await {
                        tracing::warn!(%addr, error = %e, "replication connection refused");
                    }
                });
            }
        });
        t.inner.tasks.lock().push(task);
        Ok(t)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Makes `peer` reachable at `addr`. The lower id of the pair dials (and redials with
    /// backoff for as long as the transport lives); the higher id waits for it.
    pub fn add_peer(&self, peer: NodeId, addr: SocketAddr) {
        if peer <= self.inner.node_id {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut backoff = RECONNECT_BACKOFF_MIN_MS;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let t = Transport { inner };
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        backoff = RECONNECT_BACKOFF_MIN_MS;
                        let _ = stream.set_nodelay(true);
                        let hello = Frame::Hello {
                            node_id: t.inner.node_id,
                        };
                        let mut stream = stream;
                        if stream.write_all(&hello.encode()).await.is_ok() {
                            let done = t.run_connection(stream, peer);
                            drop(t);
                            done.await;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(peer, %addr, error = %e, "dial failed");
                        drop(t);
                    }
                }
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX_MS);
            }
        });
        self.inner.tasks.lock().push(task);
    }

    /// Installs the wiped-disk vote guard for every group this node serves.
    pub fn set_vote_guard(&self, guard: Arc<crate::vote_guard::VoteGuard>) {
        *self.inner.guard.write() = guard;
    }

    /// Serves RPCs for `group` with `raft`.
    pub fn register_group(&self, group: GroupId, raft: Raft<PartitionRaft>) {
        self.inner.groups.write().insert(group, raft);
    }

    pub fn unregister_group(&self, group: GroupId) {
        self.inner.groups.write().remove(&group);
    }

    /// The openraft network factory of one group on this node.
    pub fn network(&self, group: GroupId) -> TransportNetworkFactory {
        TransportNetworkFactory {
            transport: self.clone(),
            group,
        }
    }

    /// The generation of the live connection to `peer` (changes on every reconnect).
    pub fn connection_generation(&self, peer: NodeId) -> Option<u64> {
        self.inner.conns.lock().get(&peer).map(|c| c.generation)
    }

    /// Whether a connection to `peer` is up.
    pub fn is_connected(&self, peer: NodeId) -> bool {
        self.inner.conns.lock().contains_key(&peer)
    }

    /// Closes every live connection (a test hook for reconnection; the dialer redials).
    pub fn drop_connections(&self) {
        for (_, c) in self.inner.conns.lock().drain() {
            c.close.notify_one();
        }
    }

    /// Stops listening and dialing and closes every connection.
    pub fn shutdown(&self) {
        for t in self.inner.tasks.lock().drain(..) {
            t.abort();
        }
        self.drop_connections();
    }

    async fn accept(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let hello = tokio::time::timeout(
            Duration::from_millis(HELLO_TIMEOUT_MS),
            read_frame(&mut stream),
        )
        .await
        .map_err(|_| std::io::Error::other("no hello"))??;
        let Some(Frame::Hello { node_id }) = hello else {
            return Err(std::io::Error::other("first frame is not a hello"));
        };
        if node_id >= self.inner.node_id {
            return Err(std::io::Error::other(format!(
                "node {node_id} dialed node {}: the lower id dials",
                self.inner.node_id
            )));
        }
        self.run_connection(stream, node_id).await;
        Ok(())
    }

    /// Runs a connection until it fails or is replaced; returns when it is closed.
    fn run_connection(
        &self,
        stream: TcpStream,
        peer: NodeId,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (mut rd, wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PEER_SEND_QUEUE_FRAMES_MAX);
        let close = Arc::new(Notify::new());
        let conn = Arc::new(PeerConn {
            generation: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
            pending: Mutex::new(HashMap::new()),
            close: close.clone(),
        });
        if let Some(old) = self.inner.conns.lock().insert(peer, conn.clone()) {
            old.close.notify_one();
        }
        tracing::info!(node = self.inner.node_id, peer, "replication connection up");
        let weak_conn = Arc::downgrade(&conn);
        let writer = tokio::spawn(async move {
            let mut w = BufWriter::new(wr);
            while let Some(frame) = rx.recv().await {
                if w.write_all(&frame).await.is_err() {
                    return;
                }
                while let Ok(more) = rx.try_recv() {
                    if w.write_all(&more).await.is_err() {
                        return;
                    }
                }
                if w.flush().await.is_err() {
                    return;
                }
            }
        });
        let this = self.clone();
        drop(conn);
        async move {
            loop {
                // Cancelling a read loses its bytes, so only a close may interrupt it.
                let frame = tokio::select! {
                    f = read_frame(&mut rd) => f,
                    _ = close.notified() => break,
                };
                match frame {
                    Ok(Some(f)) => {
                        if let Err(e) = this.on_frame(peer, &weak_conn, f) {
                            tracing::warn!(peer, error = %e, "closing replication connection");
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(peer, error = %e, "replication connection failed");
                        break;
                    }
                }
            }
            writer.abort();
            if let Some(mine) = weak_conn.upgrade() {
                // Fail the requests still waiting for an answer on this connection.
                mine.pending.lock().clear();
                let mut conns = this.inner.conns.lock();
                if conns
                    .get(&peer)
                    .is_some_and(|c| c.generation == mine.generation)
                {
                    conns.remove(&peer);
                }
            }
            tracing::info!(
                node = this.inner.node_id,
                peer,
                "replication connection down"
            );
        }
    }

    fn on_frame(
        &self,
        peer: NodeId,
        conn: &std::sync::Weak<PeerConn>,
        frame: Frame,
    ) -> Result<(), FrameError> {
        match frame {
            Frame::Hello { .. } => Err(FrameError::BadHello("hello after the first frame".into())),
            Frame::Response {
                correlation,
                status,
                body,
            } => {
                if let Some(conn) = conn.upgrade() {
                    if let Some(tx) = conn.pending.lock().remove(&correlation) {
                        let _ = tx.send((status, body));
                    }
                }
                Ok(())
            }
            Frame::Request {
                correlation,
                group,
                rpc,
                body,
            } => {
                let raft = self.inner.groups.read().get(&group).cloned();
                let guard = self.inner.guard.read().clone();
                let conn = conn.clone();
                tokio::spawn(async move {
                    let (status, body) = match raft {
                        None => (STATUS_UNKNOWN_GROUP, Body::default()),
                        Some(raft) => serve(&raft, &guard, group, rpc, body).await,
                    };
                    let frame = Frame::Response {
                        correlation,
                        status,
                        body,
                    }
                    .encode();
                    if let Some(conn) = conn.upgrade() {
                        let tx = conn.tx.clone();
                        drop(conn);
                        if tx.send(frame).await.is_err() {
                            tracing::debug!(peer, "response dropped: connection closed");
                        }
                    }
                });
                Ok(())
            }
        }
    }

    /// Sends a request to `peer` and waits for its response (at most `ttl`).
    async fn call(
        &self,
        peer: NodeId,
        group: GroupId,
        rpc: u8,
        body: Body,
        ttl: Duration,
    ) -> Result<(u8, Body), Unreachable> {
        let unreachable =
            |why: &str| Unreachable::new(&std::io::Error::other(format!("node {peer}: {why}")));
        let conn = self
            .inner
            .conns
            .lock()
            .get(&peer)
            .cloned()
            .ok_or_else(|| unreachable("not connected"))?;
        let correlation = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = conn.pending.lock();
            if pending.len() >= PEER_PENDING_REQUESTS_MAX {
                return Err(unreachable("too many requests in flight"));
            }
            pending.insert(correlation, tx);
        }
        let frame = Frame::Request {
            correlation,
            group,
            rpc,
            body,
        }
        .encode();
        if frame.len() > FRAME_BYTES_MAX as usize {
            conn.pending.lock().remove(&correlation);
            return Err(unreachable("request exceeds the frame maximum"));
        }
        let sender = conn.tx.clone();
        let result = tokio::time::timeout(ttl, async move {
            sender
                .send(frame)
                .await
                .map_err(|_| unreachable("connection closed"))?;
            rx.await.map_err(|_| unreachable("connection closed"))
        })
        .await;
        conn.pending.lock().remove(&correlation);
        match result {
            Ok(r) => r,
            Err(_) => Err(unreachable("timed out")),
        }
    }
}

/// Serves one request on the local Raft of its group.
async fn serve(
    raft: &Raft<PartitionRaft>,
    guard: &crate::vote_guard::VoteGuard,
    group: GroupId,
    rpc: u8,
    body: Body,
) -> (u8, Body) {
    fn reply<T: Serialize, E: Serialize>(r: Result<T, E>) -> (u8, Body) {
        match r {
            Ok(v) => (STATUS_OK, json_body(&v)),
            Err(e) => (STATUS_RAFT_ERROR, json_body(&e)),
        }
    }
    let bad = |e: FrameError| (STATUS_BAD_REQUEST, json_body(&e.to_string()));
    match rpc {
        RPC_APPEND => match decode_append(body) {
            Ok(req) => {
                guard.on_append(group, req.leader_commit);
                reply(raft.append_entries(req).await)
            }
            Err(e) => bad(e),
        },
        RPC_VOTE => match from_json::<VoteRequest<NodeId>>(&body.json) {
            // A wiped node does not vote before it has caught up (see vote_guard.rs).
            Ok(req) if !guard.may_vote(group, &req, raft) => {
                (STATUS_UNKNOWN_GROUP, Body::default())
            }
            Ok(req) => reply(raft.vote(req).await),
            Err(e) => bad(e),
        },
        RPC_SNAPSHOT => match from_json::<InstallSnapshotRequest<PartitionRaft>>(&body.json) {
            Ok(req) => reply(raft.install_snapshot(req).await),
            Err(e) => bad(e),
        },
        RPC_WRITE => match body.blobs.into_iter().next() {
            Some(batch) => match crate::log_store::check_one_batch(&batch) {
                Ok(()) => reply(raft.client_write(batch).await.map(|r| r.data)),
                Err(e) => (STATUS_BAD_REQUEST, json_body(&e)),
            },
            None => (STATUS_BAD_REQUEST, json_body(&"write without a batch")),
        },
        other => (
            STATUS_BAD_REQUEST,
            json_body(&format!("unknown rpc {other}")),
        ),
    }
}

/// Why a forwarded write failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The peer could not be reached or did not answer in time (the write may still happen).
    #[error("{0}")]
    Unreachable(String),
    /// The peer is not the leader (the leader it knows, if any).
    #[error("node is not the leader (leader: {0:?})")]
    NotLeader(Option<NodeId>),
    /// The peer's Raft refused the write.
    #[error("write refused: {0}")]
    Refused(String),
}

impl Transport {
    /// Forwards one record batch to `peer`'s Raft of `group` as a client write and returns
    /// the Kafka base offset it was committed at.
    pub async fn forward_write(
        &self,
        peer: NodeId,
        group: GroupId,
        batch: Vec<u8>,
        ttl: Duration,
    ) -> Result<i64, ForwardError> {
        let body = Body {
            json: Vec::new(),
            blobs: vec![batch],
        };
        let (status, body) = self
            .call(peer, group, RPC_WRITE, body, ttl)
            .await
            .map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        match status {
            STATUS_OK => from_json::<i64>(&body.json)
                .map_err(|e| ForwardError::Unreachable(format!("undecodable answer: {e}"))),
            STATUS_RAFT_ERROR => {
                match from_json::<RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>>(
                    &body.json,
                ) {
                    Ok(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        Err(ForwardError::NotLeader(f.leader_id))
                    }
                    Ok(e) => Err(ForwardError::Refused(e.to_string())),
                    Err(e) => Err(ForwardError::Unreachable(format!(
                        "undecodable answer: {e}"
                    ))),
                }
            }
            STATUS_UNKNOWN_GROUP => Err(ForwardError::Unreachable(format!(
                "node {peer} does not serve group {group}"
            ))),
            s => Err(ForwardError::Refused(format!(
                "status {s}: {}",
                String::from_utf8_lossy(&body.json)
            ))),
        }
    }
}

/// openraft `RaftNetworkFactory` of one group over the transport.
pub struct TransportNetworkFactory {
    transport: Transport,
    group: GroupId,
}

impl RaftNetworkFactory<PartitionRaft> for TransportNetworkFactory {
    type Network = TransportConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        TransportConnection {
            transport: self.transport.clone(),
            group: self.group,
            target,
        }
    }
}

/// One group's RPC client to one peer.
pub struct TransportConnection {
    transport: Transport,
    group: GroupId,
    target: NodeId,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl TransportConnection {
    async fn rpc<T, E>(&self, rpc: u8, body: Body, option: &RPCOption) -> RpcResult<T, E>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let (status, body) = self
            .transport
            .call(self.target, self.group, rpc, body, option.hard_ttl())
            .await?;
        let undecodable = |e: FrameError| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!(
                "node {}: undecodable response: {e}",
                self.target
            ))))
        };
        match status {
            STATUS_OK => from_json(&body.json).map_err(undecodable),
            STATUS_RAFT_ERROR => {
                let e: E = from_json(&body.json).map_err(undecodable)?;
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            STATUS_UNKNOWN_GROUP => Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other(format!(
                    "node {} does not serve group {}",
                    self.target, self.group
                )),
            ))),
            s => Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other(format!(
                    "node {} refused the request (status {s}): {}",
                    self.target,
                    String::from_utf8_lossy(&body.json)
                )),
            ))),
        }
    }
}

impl RaftNetwork<PartitionRaft> for TransportConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<PartitionRaft>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        self.rpc(RPC_APPEND, encode_append(rpc), &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<PartitionRaft>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        self.rpc(RPC_SNAPSHOT, json_body(&rpc), &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.rpc(RPC_VOTE, json_body(&rpc), &option).await
    }
}
