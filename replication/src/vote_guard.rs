//! Protection for a replica that lost its disk (wiped and restarted with the same node id).
//!
//! Raft assumes a voter never forgets its log or its vote. A wiped voter that grants votes
//! as if it were new can elect a candidate that lacks committed entries (the committed
//! majority may have included this node's old, lost copy), which loses acknowledged writes.
//! A node that starts without its data ([`VoteGuard::new`] with `fresh`) therefore refuses to
//! vote in a group until it has caught up with that group: until it has applied everything the
//! first leader it heard from had committed. Candidates whose log is empty or holds only the
//! initial membership (a group being bootstrapped: nothing committed can be lost) always get a
//! normal answer, so a brand-new cluster, whose nodes are all fresh, still elects leaders.
//!
//! This trades availability for safety: a wiped node with only one other live replica cannot
//! help elect a leader until it has caught up from a live leader.

use std::collections::{HashMap, HashSet};

use openraft::raft::VoteRequest;
use openraft::{LogId, Raft};
use parking_lot::Mutex;

use crate::transport::GroupId;
use crate::types::PartitionRaft;
use crate::NodeId;

/// Per node: whether it started without data, and per group how far it must catch up.
#[derive(Debug, Default)]
pub struct VoteGuard {
    fresh: bool,
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    /// The commit index of the first AppendEntries heard per group.
    must_reach: HashMap<GroupId, u64>,
    /// Groups this node has caught up with (votes normally from then on).
    caught_up: HashSet<GroupId>,
}

impl VoteGuard {
    /// A guard for a node; `fresh` = it started without its data directory's state.
    pub fn new(fresh: bool) -> Self {
        VoteGuard {
            fresh,
            state: Mutex::new(GuardState::default()),
        }
    }

    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Notes the commit index a leader sent for `group`.
    pub fn on_append(&self, group: GroupId, leader_commit: Option<LogId<NodeId>>) {
        if !self.fresh {
            return;
        }
        let mut st = self.state.lock();
        if !st.caught_up.contains(&group) {
            st.must_reach
                .entry(group)
                .or_insert_with(|| leader_commit.map_or(0, |l| l.index));
        }
    }

    /// Whether this node may answer `req` for `group` (served by `raft`) normally.
    pub fn may_vote(
        &self,
        group: GroupId,
        req: &VoteRequest<NodeId>,
        raft: &Raft<PartitionRaft>,
    ) -> bool {
        if !self.fresh || req.last_log_id.is_none_or(|l| l.index == 0) {
            return true;
        }
        let mut st = self.state.lock();
        if st.caught_up.contains(&group) {
            return true;
        }
        let Some(target) = st.must_reach.get(&group).copied() else {
            return false;
        };
        let applied = raft.metrics().borrow().last_applied.map(|l| l.index);
        if applied.is_some_and(|a| a >= target) {
            st.caught_up.insert(group);
            st.must_reach.remove(&group);
            true
        } else {
            false
        }
    }
}
