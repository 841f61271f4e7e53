//! SyncGroup (key 14): the leader sends the assignment, every member gets its own; followers
//! that arrive first wait for the leader (Reply::Later). v5 checks protocol type and name.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ResponseKind, SyncGroupRequest, SyncGroupResponse};

use super::{str_bytes, Reply};
use crate::group::{SyncOutcome, SyncRequest};
use crate::state::Broker;

pub fn response(o: SyncOutcome) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(o.error_code)
        .with_protocol_type(o.protocol_type.map(str_bytes))
        .with_protocol_name(o.protocol_name.map(str_bytes))
        .with_assignment(o.assignment)
}

pub fn handle(broker: &Broker, _version: i16, req: SyncGroupRequest) -> Reply {
    let group_id = req.group_id.0.to_string();
    let sync = SyncRequest {
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let mut rx = broker.groups.sync(&group_id, sync);
    if let Ok(o) = rx.try_recv() {
        return Reply::Now(ResponseKind::SyncGroup(response(o)));
    }
    Reply::Later(Box::pin(async move {
        let o = rx
            .await
            .unwrap_or_else(|_| SyncOutcome::error(ResponseError::CoordinatorNotAvailable));
        ResponseKind::SyncGroup(response(o))
    }))
}
