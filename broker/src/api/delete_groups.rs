//! DeleteGroups (key 42): an empty group goes with its committed offsets; a group with
//! members is NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND. The answer waits until the
//! deletion's tombstones in `__consumer_offsets` are durable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, ResponseKind};

use super::Reply;
use crate::state::Broker;

pub fn handle(broker: &Broker, _version: i16, req: DeleteGroupsRequest) -> Reply {
    let pending: Vec<_> = req
        .groups_names
        .into_iter()
        .map(|id| {
            let rx = broker.groups.delete(id.0.as_str());
            (id, rx)
        })
        .collect();
    Reply::Later(Box::pin(async move {
        let mut results = Vec::with_capacity(pending.len());
        for (id, rx) in pending {
            let code = match rx.await {
                Ok(Ok(())) => 0,
                Ok(Err(code)) => code,
                Err(_) => ResponseError::CoordinatorNotAvailable.code(),
            };
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code),
            );
        }
        ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
    }))
}
