//! DescribeGroups (key 15): state, protocol and members of each group; an unknown group is
//! described as Dead with no members (as Kafka does). A KIP-848 consumer-protocol group is
//! GROUP_ID_NOT_FOUND here, as Kafka answers ("not a classic group"): clients describe it
//! with ConsumerGroupDescribe.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::str_bytes;
use crate::state::Broker;

/// READ (3), DELETE (6) and DESCRIBE (8) as a bit field: everything is allowed without ACLs.
pub const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            if broker.groups.consumer().contains(id.0.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_group_state(str_bytes("Dead"));
            }
            let d = broker.groups.describe(id.0.as_str());
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            let g = DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(d.state.name()))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol_data))
                .with_members(members);
            if req.include_authorized_operations {
                g.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
            } else {
                g
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
