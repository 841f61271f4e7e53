//! Every API version advertised in `SUPPORTED_APIS` reaches a handler whose response encodes
//! at that version (ApiVersions is derived from that table, so an advertised API without a
//! working handler would break clients that pick it).

#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use riffle_broker::api::{dispatch, Reply};
use riffle_broker::state::Broker;
use riffle_config::BrokerConfig;
use riffle_protocol::request::{decode_request, encode_request};
use riffle_protocol::response::encode_response;
use riffle_protocol::versions::SUPPORTED_APIS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_api_version_has_a_handler_whose_response_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = BrokerConfig::from_pairs(&[
        ("log.dirs".to_string(), dir.path().display().to_string()),
        (
            "group.initial.rebalance.delay.ms".to_string(),
            "0".to_string(),
        ),
    ])
    .unwrap();
    let broker = Broker::open(config).unwrap();
    let mut checked = 0;
    for api in SUPPORTED_APIS {
        let key = api.key;
        for version in api.min_version..=api.max_version {
            let header = common::header(key, version, 7);
            let frame = encode_request(&header, &common::sample_request(key, version)).unwrap();
            let req = match decode_request(frame.slice(4..)) {
                Ok(r) => r,
                // Produce v0-v2 are advertised but refused before a handler (Kafka 4 does so).
                Err(e) => panic!("{key:?} v{version}: {e}"),
            };
            let body = match dispatch(&broker, req).await {
                Reply::Now(b) => b,
                Reply::Later(f) => tokio::time::timeout(Duration::from_secs(20), f)
                    .await
                    .unwrap_or_else(|_| panic!("{key:?} v{version}: no answer in 20 s")),
                Reply::None => panic!("{key:?} v{version}: no response (acks is -1 in the sample)"),
                Reply::Close(reason) => panic!("{key:?} v{version}: connection closed: {reason}"),
            };
            encode_response(7, key, version, &body)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: response does not encode: {e}"));
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} api versions checked");
}
