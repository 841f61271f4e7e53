//! DescribeCluster (key 60): cluster id, controller and brokers (KIP-700).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::metadata::{advertised_endpoint, CLUSTER_AUTHORIZED_OPERATIONS};
use super::str_bytes;
use crate::state::Broker;

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (host, port) = advertised_endpoint(broker);
    let mut resp = DescribeClusterResponse::default();
    if req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = CLUSTER_AUTHORIZED_OPERATIONS;
    }
    resp.with_endpoint_type(1)
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(broker.node_id))
            .with_host(str_bytes(host))
            .with_port(port)])
}
