//! JoinGroup (key 11): hands the request to the group coordinator and answers when the
//! join phase completes (Reply::Later). v4+ requires a member id (KIP-394), v5+ carries
//! group.instance.id (KIP-345), v9 may tell a static leader to skip assignment (KIP-814).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, ResponseKind};

use super::{str_bytes, Reply};
use crate::group::{JoinOutcome, JoinRequest};
use crate::state::Broker;

pub fn response(version: i16, o: JoinOutcome) -> JoinGroupResponse {
    let members = o
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(o.error_code)
        .with_generation_id(o.generation_id)
        .with_protocol_type(o.protocol_type.map(str_bytes))
        // Before v7 the name is not nullable: an error answer carries "" there, null after.
        .with_protocol_name(if version >= 7 {
            o.protocol_name.map(str_bytes)
        } else {
            Some(str_bytes(o.protocol_name.unwrap_or_default()))
        })
        .with_leader(str_bytes(o.leader))
        .with_skip_assignment(version >= 9 && o.skip_assignment)
        .with_member_id(str_bytes(o.member_id))
        .with_members(members)
}

pub fn handle(broker: &Broker, version: i16, client_id: &str, req: JoinGroupRequest) -> Reply {
    let group_id = req.group_id.0.to_string();
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: String::new(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let member_id = join.member_id.clone();
    let mut rx = broker.groups.join(&group_id, join);
    if let Ok(o) = rx.try_recv() {
        return Reply::Now(ResponseKind::JoinGroup(response(version, o)));
    }
    Reply::Later(Box::pin(async move {
        let o = rx.await.unwrap_or_else(|_| {
            JoinOutcome::error(member_id, ResponseError::CoordinatorNotAvailable)
        });
        ResponseKind::JoinGroup(response(version, o))
    }))
}
