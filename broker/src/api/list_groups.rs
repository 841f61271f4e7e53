//! ListGroups (key 16): every group of this coordinator; v4 filters by state
//! (case-insensitive, as Kafka's admin tools send them). KIP-848 consumer-protocol groups are
//! listed with protocol type "consumer" and their state (Empty, Assigning, Reconciling, Stable).

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
    let consumer = broker.groups.consumer().list();
    let consumer_ids: std::collections::HashSet<&str> =
        consumer.iter().map(|(id, _)| id.as_str()).collect();
    let wanted = |state: &str, kind: &str| {
        (states.is_empty() || states.contains(&state.to_ascii_lowercase()))
            && (types.is_empty() || types.iter().any(|t| t == kind))
    };
    let mut groups: Vec<ListedGroup> = broker
        .groups
        .list()
        .into_iter()
        // A consumer-protocol group's offsets live in a classic group of the same id.
        .filter(|g| !consumer_ids.contains(g.group_id.as_str()))
        .filter(|g| wanted(g.state.name(), "classic"))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state.name()))
                .with_group_type(str_bytes("classic"))
        })
        .collect();
    groups.extend(
        consumer
            .iter()
            .filter(|(_, state)| wanted(state.name(), "consumer"))
            .map(|(id, state)| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(id.clone())))
                    .with_protocol_type(str_bytes("consumer"))
                    .with_group_state(str_bytes(state.name()))
                    .with_group_type(str_bytes("consumer"))
            }),
    );
    groups.sort_by(|a, b| a.group_id.0.cmp(&b.group_id.0));
    ListGroupsResponse::default().with_groups(groups)
}
