//! DescribeConfigs (key 32) for topics (resource type 2) and this broker (type 4), with each
//! entry's source, read-only and sensitive flags, type (v3+) and documentation (v3+).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use riffle_config::{ConfigEntry, ConfigSource, ConfigType};

use super::str_bytes;
use crate::state::Broker;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ConfigSource` ids on the wire.
pub fn source_code(s: ConfigSource) -> i8 {
    match s {
        ConfigSource::DynamicTopic => 1,
        ConfigSource::DynamicBroker => 2,
        ConfigSource::StaticBroker => 4,
        ConfigSource::Default => 5,
    }
}

/// Kafka's `ConfigType` ids on the wire (DescribeConfigs v3+).
pub fn type_code(t: ConfigType) -> i8 {
    match t {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Short => 4,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
        ConfigType::Class => 8,
        ConfigType::Password => 9,
    }
}

fn to_wire(e: ConfigEntry, include_documentation: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name))
        .with_value(if e.sensitive {
            None
        } else {
            e.value.map(str_bytes)
        })
        .with_read_only(e.read_only)
        .with_config_source(source_code(e.source))
        .with_is_sensitive(e.sensitive)
        .with_config_type(type_code(e.config_type))
        .with_documentation(if include_documentation {
            e.documentation.map(str_bytes)
        } else {
            None
        })
}

/// Whether `name` addresses this broker (its id, or "" for the cluster-wide default).
pub fn is_this_broker(broker: &Broker, name: &str) -> bool {
    name.is_empty() || name.parse::<i32>().ok() == Some(broker.node_id)
}

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                RESOURCE_TOPIC => match broker.topic(&name) {
                    Some(t) => {
                        let cfg = broker.config.read();
                        t.config.read().describe(&t.overrides.read(), &cfg)
                    }
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!(
                                "topic '{name}' does not exist"
                            ))))
                    }
                },
                RESOURCE_BROKER if is_this_broker(broker, &name) => broker.config.read().describe(),
                RESOURCE_BROKER => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "broker '{name}' is not this broker ({})",
                            broker.node_id
                        ))))
                }
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "unsupported resource type {other}"
                        ))))
                }
            };
            let configs = entries
                .into_iter()
                .filter(|e| {
                    r.configuration_keys
                        .as_ref()
                        .is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                })
                .map(|e| to_wire(e, req.include_documentation))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
