//! SyncGroup on the group state machine: the leader's assignment is stored and handed to
//! every member; followers that arrive first wait for it.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::state::{Group, GroupState, SyncOutcome, NONE};

/// A SyncGroup as the state machine sees it.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment: member id -> assignment bytes.
    pub assignments: Vec<(String, Bytes)>,
}

impl Group {
    /// Handles a SyncGroup; the answer arrives on the returned receiver.
    pub fn sync(&mut self, req: SyncRequest, now_ms: u64) -> oneshot::Receiver<SyncOutcome> {
        let (tx, rx) = oneshot::channel();
        let error = |e: ResponseError| SyncOutcome::error(e);
        if self.is(GroupState::Dead) {
            let _ = tx.send(error(ResponseError::CoordinatorNotAvailable));
            return rx;
        }
        if self.is_static_member_fenced(req.group_instance_id.as_deref(), &req.member_id) {
            let _ = tx.send(error(ResponseError::FencedInstanceId));
            return rx;
        }
        if !self.members.contains_key(&req.member_id) {
            let _ = tx.send(error(ResponseError::UnknownMemberId));
            return rx;
        }
        if req.generation_id != self.generation_id {
            let _ = tx.send(error(ResponseError::IllegalGeneration));
            return rx;
        }
        let type_mismatch = req
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t));
        let name_mismatch = req
            .protocol_name
            .as_ref()
            .is_some_and(|n| self.protocol_name.as_ref() != Some(n));
        if type_mismatch || name_mismatch {
            let _ = tx.send(error(ResponseError::InconsistentGroupProtocol));
            return rx;
        }
        match self.state {
            GroupState::Empty => {
                let _ = tx.send(error(ResponseError::UnknownMemberId));
            }
            GroupState::PreparingRebalance => {
                let _ = tx.send(error(ResponseError::RebalanceInProgress));
            }
            GroupState::CompletingRebalance => {
                self.pending_sync.remove(&req.member_id);
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.answer_sync(SyncOutcome::error(ResponseError::RebalanceInProgress));
                    m.awaiting_sync = Some(tx);
                    m.session_deadline_ms = now_ms + m.session_timeout_ms;
                }
                if self.is_leader(&req.member_id) {
                    let mut assignments: HashMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = assignments.remove(&m.member_id).unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now_ms);
                    // Members that have not synced yet still must, by the sync deadline set
                    // when the join phase completed.
                    if self.pending_sync.is_empty() {
                        self.sync_deadline_ms = None;
                    }
                    let protocol_type = self.protocol_type.clone();
                    let protocol_name = self.protocol_name.clone();
                    for m in self.members.values_mut() {
                        let outcome = SyncOutcome {
                            error_code: NONE,
                            protocol_type: protocol_type.clone(),
                            protocol_name: protocol_name.clone(),
                            assignment: m.assignment.clone(),
                        };
                        m.answer_sync(outcome);
                    }
                    tracing::debug!(group = %self.group_id, generation = self.generation_id, "group stable");
                }
            }
            GroupState::Stable => {
                self.pending_sync.remove(&req.member_id);
                if self.pending_sync.is_empty() {
                    self.sync_deadline_ms = None;
                }
                let m = self.members.get_mut(&req.member_id);
                let assignment = m
                    .map(|m| {
                        m.session_deadline_ms = now_ms + m.session_timeout_ms;
                        m.assignment.clone()
                    })
                    .unwrap_or_default();
                let _ = tx.send(SyncOutcome {
                    error_code: NONE,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                });
            }
            GroupState::Dead => {
                let _ = tx.send(error(ResponseError::CoordinatorNotAvailable));
            }
        }
        rx
    }
}
