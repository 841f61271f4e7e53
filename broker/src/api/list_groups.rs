//! ListGroups (key 16): every group of this coordinator; v4 filters by state
//! (case-insensitive, as Kafka's admin tools send them).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::state::Broker;

pub fn handle(broker: &Broker, version: i16, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = if version >= 4 {
        req.states_filter
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect()
    } else {
        vec![]
    };
    let types: Vec<String> = if version >= 5 {
        req.types_filter
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect()
    } else {
        vec![]
    };
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_ascii_lowercase()))
        // Every group here is a classic group (KIP-848 consumer groups do not exist yet).
        .filter(|_| types.is_empty() || types.iter().any(|t| t == "classic"))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state.name()))
                .with_group_type(str_bytes("classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
