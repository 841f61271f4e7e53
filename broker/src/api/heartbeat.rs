//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::state::Broker;

pub fn handle(broker: &Broker, _version: i16, req: HeartbeatRequest) -> HeartbeatResponse {
    let code = broker.groups.heartbeat(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|s| s.as_str()),
        req.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code)
}
