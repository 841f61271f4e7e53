//! Heartbeat and LeaveGroup on the group state machine.

use kafka_protocol::error::ResponseError;

use super::state::{Group, GroupState, NONE};

/// One member leaving (LeaveGroup v3+ carries several).
#[derive(Debug, Clone, Default)]
pub struct LeavingMember {
    /// Empty when only the instance id is known (a static member leaving by instance id).
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl Group {
    /// Handles a Heartbeat: keeps the session alive and tells the member whether to rejoin.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: u64,
    ) -> i16 {
        if self.is(GroupState::Dead) {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        if self.is_static_member_fenced(group_instance_id, member_id) {
            return ResponseError::FencedInstanceId.code();
        }
        if !self.members.contains_key(member_id) {
            return ResponseError::UnknownMemberId.code();
        }
        if generation_id != self.generation_id {
            return ResponseError::IllegalGeneration.code();
        }
        let keep_alive = |g: &mut Group| {
            if let Some(m) = g.members.get_mut(member_id) {
                m.session_deadline_ms = now_ms + m.session_timeout_ms;
            }
        };
        match self.state {
            GroupState::Empty => ResponseError::UnknownMemberId.code(),
            GroupState::CompletingRebalance | GroupState::Stable => {
                keep_alive(self);
                NONE
            }
            GroupState::PreparingRebalance => {
                keep_alive(self);
                ResponseError::RebalanceInProgress.code()
            }
            GroupState::Dead => ResponseError::CoordinatorNotAvailable.code(),
        }
    }

    /// Handles the members of a LeaveGroup; one error code per member, in order.
    pub fn leave(&mut self, leaving: &[LeavingMember], now_ms: u64) -> Vec<i16> {
        leaving.iter().map(|l| self.leave_one(l, now_ms)).collect()
    }

    fn leave_one(&mut self, l: &LeavingMember, now_ms: u64) -> i16 {
        if self.is(GroupState::Dead) {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        let member_id = match (&l.group_instance_id, l.member_id.is_empty()) {
            (Some(instance), true) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return ResponseError::UnknownMemberId.code(),
            },
            (Some(instance), false) => {
                if self.is_static_member_fenced(Some(instance), &l.member_id) {
                    return ResponseError::FencedInstanceId.code();
                }
                l.member_id.clone()
            }
            (None, _) => l.member_id.clone(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            self.maybe_complete_join(now_ms);
            return NONE;
        }
        if !self.members.contains_key(&member_id) {
            return ResponseError::UnknownMemberId.code();
        }
        tracing::debug!(group = %self.group_id, member = %member_id, "member left");
        self.remove_member_and_update(&member_id, ResponseError::UnknownMemberId, now_ms);
        NONE
    }
}
