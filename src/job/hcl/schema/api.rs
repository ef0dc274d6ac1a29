//! Generated from the `hcl:"…"` tags of `hashicorp/nomad:api/*.go` at v2.0.5 (field
//! names and Go types only): what gohcl decodes into each API struct. Affinity and
//! Constraint are jobspec2's `hcldec` specs (`hcl_conversions.go`).

use super::{Body, Nest, Schema, Ty};

pub static S_JOB: Schema = Schema {
    name: "Job",
    labels: 0,
    attrs: &[
        ("region", Ty::Str, false),
        ("namespace", Ty::Str, false),
        ("id", Ty::Str, false),
        ("name", Ty::Str, false),
        ("type", Ty::Str, false),
        ("priority", Ty::Num, false),
        ("all_at_once", Ty::Bool, false),
        ("datacenters", Ty::ListStr, false),
        ("node_pool", Ty::Str, false),
    ],
    blocks: &[
        ("constraint", Nest::Many, Body::S(&S_CONSTRAINT)),
        ("affinity", Nest::Many, Body::S(&S_AFFINITY)),
        ("group", Nest::Many, Body::S(&S_TASK_GROUP)),
        ("update", Nest::One, Body::S(&S_UPDATE_STRATEGY)),
        ("multiregion", Nest::One, Body::S(&S_MULTIREGION)),
        ("spread", Nest::Many, Body::S(&S_SPREAD)),
        ("periodic", Nest::One, Body::S(&S_PERIODIC_CONFIG)),
        (
            "parameterized",
            Nest::One,
            Body::S(&S_PARAMETERIZED_JOB_CONFIG),
        ),
        ("reschedule", Nest::One, Body::S(&S_RESCHEDULE_POLICY)),
        ("migrate", Nest::One, Body::S(&S_MIGRATE_STRATEGY)),
        ("meta", Nest::One, Body::MapStr),
        ("ui", Nest::One, Body::S(&S_JOB_UI_CONFIG)),
    ],
};

pub static S_CONSTRAINT: Schema = Schema {
    name: "Constraint",
    labels: 0,
    attrs: &[
        ("attribute", Ty::Str, false),
        ("value", Ty::Str, false),
        ("operator", Ty::Str, false),
        ("distinct_property", Ty::Str, false),
        ("distinct_hosts", Ty::Bool, false),
        ("regexp", Ty::Str, false),
        ("version", Ty::Str, false),
        ("semver", Ty::Str, false),
        ("set_contains", Ty::Str, false),
        ("set_contains_all", Ty::Str, false),
        ("set_contains_any", Ty::Str, false),
        ("attribute_is_set", Ty::Str, false),
        ("attribute_is_not_set", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_AFFINITY: Schema = Schema {
    name: "Affinity",
    labels: 0,
    attrs: &[
        ("attribute", Ty::Str, false),
        ("value", Ty::Str, false),
        ("operator", Ty::Str, false),
        ("weight", Ty::Num, false),
        ("version", Ty::Str, false),
        ("semver", Ty::Str, false),
        ("regexp", Ty::Str, false),
        ("set_contains", Ty::Str, false),
        ("set_contains_all", Ty::Str, false),
        ("set_contains_any", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_TASK_GROUP: Schema = Schema {
    name: "TaskGroup",
    labels: 1,
    attrs: &[
        ("count", Ty::Num, false),
        ("shutdown_delay", Ty::Dur, false),
        ("max_run_duration", Ty::Dur, false),
        ("stop_after_client_disconnect", Ty::Dur, false),
        ("max_client_disconnect", Ty::Dur, false),
        ("prevent_reschedule_on_lost", Ty::Bool, false),
    ],
    blocks: &[
        ("constraint", Nest::Many, Body::S(&S_CONSTRAINT)),
        ("affinity", Nest::Many, Body::S(&S_AFFINITY)),
        ("task", Nest::Many, Body::S(&S_TASK)),
        ("spread", Nest::Many, Body::S(&S_SPREAD)),
        ("volume", Nest::Labeled, Body::S(&S_VOLUME_REQUEST)),
        ("restart", Nest::One, Body::S(&S_RESTART_POLICY)),
        ("disconnect", Nest::One, Body::S(&S_DISCONNECT_STRATEGY)),
        ("reschedule", Nest::One, Body::S(&S_RESCHEDULE_POLICY)),
        ("ephemeral_disk", Nest::One, Body::S(&S_EPHEMERAL_DISK)),
        ("update", Nest::One, Body::S(&S_UPDATE_STRATEGY)),
        ("migrate", Nest::One, Body::S(&S_MIGRATE_STRATEGY)),
        ("network", Nest::Many, Body::S(&S_NETWORK_RESOURCE)),
        ("meta", Nest::One, Body::MapStr),
        ("service", Nest::Many, Body::S(&S_SERVICE)),
        ("scaling", Nest::One, Body::S(&S_SCALING_POLICY)),
        ("consul", Nest::One, Body::S(&S_CONSUL)),
    ],
};

pub static S_TASK: Schema = Schema {
    name: "Task",
    labels: 1,
    attrs: &[
        ("driver", Ty::Str, false),
        ("user", Ty::Str, false),
        ("kill_timeout", Ty::Dur, false),
        ("leader", Ty::Bool, false),
        ("shutdown_delay", Ty::Dur, false),
        ("kill_signal", Ty::Str, false),
        ("kind", Ty::Str, false),
    ],
    blocks: &[
        ("lifecycle", Nest::One, Body::S(&S_TASK_LIFECYCLE)),
        ("config", Nest::One, Body::MapAny),
        ("constraint", Nest::Many, Body::S(&S_CONSTRAINT)),
        ("affinity", Nest::Many, Body::S(&S_AFFINITY)),
        ("env", Nest::One, Body::MapStr),
        ("service", Nest::Many, Body::S(&S_SERVICE)),
        ("resources", Nest::One, Body::S(&S_RESOURCES)),
        ("restart", Nest::One, Body::S(&S_RESTART_POLICY)),
        ("meta", Nest::One, Body::MapStr),
        ("logs", Nest::One, Body::S(&S_LOG_CONFIG)),
        ("artifact", Nest::Many, Body::S(&S_TASK_ARTIFACT)),
        ("vault", Nest::One, Body::S(&S_VAULT)),
        ("consul", Nest::One, Body::S(&S_CONSUL)),
        ("template", Nest::Many, Body::S(&S_TEMPLATE)),
        (
            "dispatch_payload",
            Nest::One,
            Body::S(&S_DISPATCH_PAYLOAD_CONFIG),
        ),
        ("volume_mount", Nest::Many, Body::S(&S_VOLUME_MOUNT)),
        ("csi_plugin", Nest::One, Body::S(&S_TASK_CSI_PLUGIN_CONFIG)),
        ("scaling", Nest::Many, Body::S(&S_SCALING_POLICY)),
        ("secret", Nest::Many, Body::S(&S_SECRET)),
        ("identity", Nest::Many, Body::S(&S_WORKLOAD_IDENTITY)),
        ("action", Nest::Many, Body::S(&S_ACTION)),
        ("schedule", Nest::One, Body::S(&S_TASK_SCHEDULE)),
    ],
};

pub static S_TASK_LIFECYCLE: Schema = Schema {
    name: "TaskLifecycle",
    labels: 0,
    attrs: &[("hook", Ty::Str, true), ("sidecar", Ty::Bool, false)],
    blocks: &[],
};

pub static S_SERVICE: Schema = Schema {
    name: "Service",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("tags", Ty::ListStr, false),
        ("canary_tags", Ty::ListStr, false),
        ("enable_tag_override", Ty::Bool, false),
        ("port", Ty::Str, false),
        ("address_mode", Ty::Str, false),
        ("address", Ty::Str, false),
        ("task", Ty::Str, false),
        ("on_update", Ty::Str, false),
        ("provider", Ty::Str, false),
        ("cluster", Ty::Str, false),
        ("kind", Ty::Str, false),
    ],
    blocks: &[
        ("check", Nest::Many, Body::S(&S_SERVICE_CHECK)),
        ("check_restart", Nest::One, Body::S(&S_CHECK_RESTART)),
        ("connect", Nest::One, Body::S(&S_CONSUL_CONNECT)),
        ("meta", Nest::One, Body::MapStr),
        ("canary_meta", Nest::One, Body::MapStr),
        ("tagged_addresses", Nest::One, Body::MapStr),
        ("identity", Nest::One, Body::S(&S_WORKLOAD_IDENTITY)),
        ("weights", Nest::One, Body::S(&S_SERVICE_WEIGHTS)),
    ],
};

pub static S_SERVICE_CHECK: Schema = Schema {
    name: "ServiceCheck",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("type", Ty::Str, false),
        ("command", Ty::Str, false),
        ("args", Ty::ListStr, false),
        ("path", Ty::Str, false),
        ("protocol", Ty::Str, false),
        ("port", Ty::Str, false),
        ("expose", Ty::Bool, false),
        ("address_mode", Ty::Str, false),
        ("advertise", Ty::Str, false),
        ("interval", Ty::Dur, false),
        ("timeout", Ty::Dur, false),
        ("initial_status", Ty::Str, false),
        ("notes", Ty::Str, false),
        ("tls_server_name", Ty::Str, false),
        ("tls_skip_verify", Ty::Bool, false),
        ("method", Ty::Str, false),
        ("grpc_service", Ty::Str, false),
        ("grpc_use_tls", Ty::Bool, false),
        ("task", Ty::Str, false),
        ("success_before_passing", Ty::Num, false),
        ("failures_before_critical", Ty::Num, false),
        ("failures_before_warning", Ty::Num, false),
        ("body", Ty::Str, false),
        ("on_update", Ty::Str, false),
    ],
    blocks: &[
        ("header", Nest::One, Body::MapListStr),
        ("check_restart", Nest::One, Body::S(&S_CHECK_RESTART)),
    ],
};

pub static S_CHECK_RESTART: Schema = Schema {
    name: "CheckRestart",
    labels: 0,
    attrs: &[
        ("limit", Ty::Num, false),
        ("grace", Ty::Dur, false),
        ("ignore_warnings", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_CONSUL_CONNECT: Schema = Schema {
    name: "ConsulConnect",
    labels: 0,
    attrs: &[("native", Ty::Bool, false)],
    blocks: &[
        ("gateway", Nest::One, Body::S(&S_CONSUL_GATEWAY)),
        (
            "sidecar_service",
            Nest::One,
            Body::S(&S_CONSUL_SIDECAR_SERVICE),
        ),
        ("sidecar_task", Nest::One, Body::S(&S_SIDECAR_TASK)),
    ],
};

pub static S_CONSUL_GATEWAY: Schema = Schema {
    name: "ConsulGateway",
    labels: 0,
    attrs: &[],
    blocks: &[
        ("proxy", Nest::One, Body::S(&S_CONSUL_GATEWAY_PROXY)),
        (
            "ingress",
            Nest::One,
            Body::S(&S_CONSUL_INGRESS_CONFIG_ENTRY),
        ),
        (
            "terminating",
            Nest::One,
            Body::S(&S_CONSUL_TERMINATING_CONFIG_ENTRY),
        ),
        ("mesh", Nest::One, Body::S(&S_CONSUL_MESH_CONFIG_ENTRY)),
    ],
};

pub static S_CONSUL_GATEWAY_PROXY: Schema = Schema {
    name: "ConsulGatewayProxy",
    labels: 0,
    attrs: &[
        ("connect_timeout", Ty::Dur, false),
        ("envoy_gateway_bind_tagged_addresses", Ty::Bool, false),
        ("envoy_gateway_no_default_bind", Ty::Bool, false),
        ("envoy_dns_discovery_type", Ty::Str, false),
    ],
    blocks: &[
        (
            "envoy_gateway_bind_addresses",
            Nest::Labeled,
            Body::S(&S_CONSUL_GATEWAY_BIND_ADDRESS),
        ),
        ("config", Nest::One, Body::MapAny),
    ],
};

pub static S_CONSUL_GATEWAY_BIND_ADDRESS: Schema = Schema {
    name: "ConsulGatewayBindAddress",
    labels: 1,
    attrs: &[("address", Ty::Str, false), ("port", Ty::Num, false)],
    blocks: &[],
};

pub static S_CONSUL_INGRESS_CONFIG_ENTRY: Schema = Schema {
    name: "ConsulIngressConfigEntry",
    labels: 0,
    attrs: &[],
    blocks: &[
        ("tls", Nest::One, Body::S(&S_CONSUL_GATEWAY_TLS_CONFIG)),
        ("listener", Nest::Many, Body::S(&S_CONSUL_INGRESS_LISTENER)),
    ],
};

pub static S_CONSUL_GATEWAY_TLS_CONFIG: Schema = Schema {
    name: "ConsulGatewayTLSConfig",
    labels: 0,
    attrs: &[
        ("enabled", Ty::Bool, false),
        ("tls_min_version", Ty::Str, false),
        ("tls_max_version", Ty::Str, false),
        ("cipher_suites", Ty::ListStr, false),
    ],
    blocks: &[("sds", Nest::One, Body::S(&S_CONSUL_GATEWAY_TLSSDS_CONFIG))],
};

pub static S_CONSUL_GATEWAY_TLSSDS_CONFIG: Schema = Schema {
    name: "ConsulGatewayTLSSDSConfig",
    labels: 0,
    attrs: &[
        ("cluster_name", Ty::Str, false),
        ("cert_resource", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_CONSUL_INGRESS_LISTENER: Schema = Schema {
    name: "ConsulIngressListener",
    labels: 0,
    attrs: &[("port", Ty::Num, false), ("protocol", Ty::Str, false)],
    blocks: &[("service", Nest::Many, Body::S(&S_CONSUL_INGRESS_SERVICE))],
};

pub static S_CONSUL_INGRESS_SERVICE: Schema = Schema {
    name: "ConsulIngressService",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("hosts", Ty::ListStr, false),
        ("max_connections", Ty::Num, false),
        ("max_pending_requests", Ty::Num, false),
        ("max_concurrent_requests", Ty::Num, false),
    ],
    blocks: &[
        ("tls", Nest::One, Body::S(&S_CONSUL_GATEWAY_TLS_CONFIG)),
        (
            "request_headers",
            Nest::One,
            Body::S(&S_CONSUL_HTTP_HEADER_MODIFIERS),
        ),
        (
            "response_headers",
            Nest::One,
            Body::S(&S_CONSUL_HTTP_HEADER_MODIFIERS),
        ),
    ],
};

pub static S_CONSUL_HTTP_HEADER_MODIFIERS: Schema = Schema {
    name: "ConsulHTTPHeaderModifiers",
    labels: 0,
    attrs: &[("remove", Ty::ListStr, false)],
    blocks: &[
        ("add", Nest::One, Body::MapStr),
        ("set", Nest::One, Body::MapStr),
    ],
};

pub static S_CONSUL_TERMINATING_CONFIG_ENTRY: Schema = Schema {
    name: "ConsulTerminatingConfigEntry",
    labels: 0,
    attrs: &[],
    blocks: &[("service", Nest::Many, Body::S(&S_CONSUL_LINKED_SERVICE))],
};

pub static S_CONSUL_LINKED_SERVICE: Schema = Schema {
    name: "ConsulLinkedService",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("ca_file", Ty::Str, false),
        ("cert_file", Ty::Str, false),
        ("key_file", Ty::Str, false),
        ("sni", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_CONSUL_MESH_CONFIG_ENTRY: Schema = Schema {
    name: "ConsulMeshConfigEntry",
    labels: 0,
    attrs: &[],
    blocks: &[],
};

pub static S_CONSUL_SIDECAR_SERVICE: Schema = Schema {
    name: "ConsulSidecarService",
    labels: 0,
    attrs: &[
        ("tags", Ty::ListStr, false),
        ("port", Ty::Str, false),
        ("disable_default_tcp_check", Ty::Bool, false),
    ],
    blocks: &[
        ("proxy", Nest::One, Body::S(&S_CONSUL_PROXY)),
        ("meta", Nest::One, Body::MapStr),
    ],
};

pub static S_CONSUL_PROXY: Schema = Schema {
    name: "ConsulProxy",
    labels: 0,
    attrs: &[
        ("local_service_address", Ty::Str, false),
        ("local_service_port", Ty::Num, false),
    ],
    blocks: &[
        ("expose", Nest::One, Body::S(&S_CONSUL_EXPOSE_CONFIG)),
        ("upstreams", Nest::Many, Body::S(&S_CONSUL_UPSTREAM)),
        (
            "transparent_proxy",
            Nest::One,
            Body::S(&S_CONSUL_TRANSPARENT_PROXY),
        ),
        ("config", Nest::One, Body::MapAny),
    ],
};

pub static S_CONSUL_EXPOSE_CONFIG: Schema = Schema {
    name: "ConsulExposeConfig",
    labels: 0,
    attrs: &[],
    blocks: &[("path", Nest::Many, Body::S(&S_CONSUL_EXPOSE_PATH))],
};

pub static S_CONSUL_EXPOSE_PATH: Schema = Schema {
    name: "ConsulExposePath",
    labels: 0,
    attrs: &[
        ("path", Ty::Str, false),
        ("protocol", Ty::Str, false),
        ("local_path_port", Ty::Num, false),
        ("listener_port", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_CONSUL_UPSTREAM: Schema = Schema {
    name: "ConsulUpstream",
    labels: 0,
    attrs: &[
        ("destination_name", Ty::Str, false),
        ("destination_namespace", Ty::Str, false),
        ("destination_peer", Ty::Str, false),
        ("destination_partition", Ty::Str, false),
        ("destination_type", Ty::Str, false),
        ("local_bind_port", Ty::Num, false),
        ("datacenter", Ty::Str, false),
        ("local_bind_address", Ty::Str, false),
        ("local_bind_socket_path", Ty::Str, false),
        ("local_bind_socket_mode", Ty::Str, false),
    ],
    blocks: &[
        ("mesh_gateway", Nest::One, Body::S(&S_CONSUL_MESH_GATEWAY)),
        ("config", Nest::One, Body::MapAny),
    ],
};

pub static S_CONSUL_MESH_GATEWAY: Schema = Schema {
    name: "ConsulMeshGateway",
    labels: 0,
    attrs: &[("mode", Ty::Str, false)],
    blocks: &[],
};

pub static S_CONSUL_TRANSPARENT_PROXY: Schema = Schema {
    name: "ConsulTransparentProxy",
    labels: 0,
    attrs: &[
        ("uid", Ty::Str, false),
        ("outbound_port", Ty::Num, false),
        ("exclude_inbound_ports", Ty::ListStr, false),
        ("exclude_outbound_ports", Ty::ListNum, false),
        ("exclude_outbound_cidrs", Ty::ListStr, false),
        ("exclude_uids", Ty::ListStr, false),
        ("no_dns", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_SIDECAR_TASK: Schema = Schema {
    name: "SidecarTask",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("driver", Ty::Str, false),
        ("user", Ty::Str, false),
        ("kill_timeout", Ty::Dur, false),
        ("shutdown_delay", Ty::Dur, false),
        ("kill_signal", Ty::Str, false),
    ],
    blocks: &[
        ("config", Nest::One, Body::MapAny),
        ("env", Nest::One, Body::MapStr),
        ("resources", Nest::One, Body::S(&S_RESOURCES)),
        ("meta", Nest::One, Body::MapStr),
        ("logs", Nest::One, Body::S(&S_LOG_CONFIG)),
        ("volume_mount", Nest::Many, Body::S(&S_VOLUME_MOUNT)),
        ("identity", Nest::Many, Body::S(&S_WORKLOAD_IDENTITY)),
    ],
};

pub static S_RESOURCES: Schema = Schema {
    name: "Resources",
    labels: 0,
    attrs: &[
        ("cpu", Ty::Num, false),
        ("cores", Ty::Num, false),
        ("memory", Ty::Num, false),
        ("memory_max", Ty::Num, false),
        ("disk", Ty::Num, false),
        ("secrets", Ty::Num, false),
        ("iops", Ty::Num, false),
    ],
    blocks: &[
        ("network", Nest::Many, Body::S(&S_NETWORK_RESOURCE)),
        ("device", Nest::Many, Body::S(&S_REQUESTED_DEVICE)),
        ("numa", Nest::One, Body::S(&S_NUMA_RESOURCE)),
    ],
};

pub static S_NETWORK_RESOURCE: Schema = Schema {
    name: "NetworkResource",
    labels: 0,
    attrs: &[
        ("mode", Ty::Str, false),
        ("device", Ty::Str, false),
        ("cidr", Ty::Str, false),
        ("ip", Ty::Str, false),
        ("hostname", Ty::Str, false),
        ("mbits", Ty::Num, false),
    ],
    blocks: &[
        ("dns", Nest::One, Body::S(&S_DNS_CONFIG)),
        ("reserved_ports", Nest::Many, Body::S(&S_PORT)),
        ("port", Nest::Many, Body::S(&S_PORT)),
        ("cni", Nest::One, Body::S(&S_CNI_CONFIG)),
    ],
};

pub static S_DNS_CONFIG: Schema = Schema {
    name: "DNSConfig",
    labels: 0,
    attrs: &[
        ("servers", Ty::ListStr, false),
        ("searches", Ty::ListStr, false),
        ("options", Ty::ListStr, false),
    ],
    blocks: &[],
};

pub static S_PORT: Schema = Schema {
    name: "Port",
    labels: 1,
    attrs: &[
        ("static", Ty::Num, false),
        ("to", Ty::Num, false),
        ("host_network", Ty::Str, false),
        ("ignore_collision", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_CNI_CONFIG: Schema = Schema {
    name: "CNIConfig",
    labels: 0,
    attrs: &[("args", Ty::MapStr, false)],
    blocks: &[],
};

pub static S_REQUESTED_DEVICE: Schema = Schema {
    name: "RequestedDevice",
    labels: 1,
    attrs: &[("count", Ty::Num, false)],
    blocks: &[
        ("constraint", Nest::Many, Body::S(&S_CONSTRAINT)),
        ("affinity", Nest::Many, Body::S(&S_AFFINITY)),
    ],
};

pub static S_NUMA_RESOURCE: Schema = Schema {
    name: "NUMAResource",
    labels: 0,
    attrs: &[
        ("affinity", Ty::Str, false),
        ("devices", Ty::ListStr, false),
    ],
    blocks: &[],
};

pub static S_LOG_CONFIG: Schema = Schema {
    name: "LogConfig",
    labels: 0,
    attrs: &[
        ("max_files", Ty::Num, false),
        ("max_file_size", Ty::Num, false),
        ("enabled", Ty::Bool, false),
        ("disabled", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_VOLUME_MOUNT: Schema = Schema {
    name: "VolumeMount",
    labels: 0,
    attrs: &[
        ("volume", Ty::Str, false),
        ("destination", Ty::Str, false),
        ("read_only", Ty::Bool, false),
        ("propagation_mode", Ty::Str, false),
        ("selinux_label", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_WORKLOAD_IDENTITY: Schema = Schema {
    name: "WorkloadIdentity",
    labels: 0,
    attrs: &[
        ("name", Ty::Str, false),
        ("aud", Ty::ListStr, false),
        ("change_mode", Ty::Str, false),
        ("change_signal", Ty::Str, false),
        ("env", Ty::Bool, false),
        ("file", Ty::Bool, false),
        ("filepath", Ty::Str, false),
        ("service_name", Ty::Str, false),
        ("ttl", Ty::Dur, false),
        ("extra_claims", Ty::ListStr, false),
    ],
    blocks: &[],
};

pub static S_SERVICE_WEIGHTS: Schema = Schema {
    name: "ServiceWeights",
    labels: 0,
    attrs: &[("passing", Ty::Num, false), ("warning", Ty::Num, false)],
    blocks: &[],
};

pub static S_RESTART_POLICY: Schema = Schema {
    name: "RestartPolicy",
    labels: 0,
    attrs: &[
        ("interval", Ty::Dur, false),
        ("attempts", Ty::Num, false),
        ("delay", Ty::Dur, false),
        ("mode", Ty::Str, false),
        ("render_templates", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_TASK_ARTIFACT: Schema = Schema {
    name: "TaskArtifact",
    labels: 0,
    attrs: &[
        ("source", Ty::Str, false),
        ("mode", Ty::Str, false),
        ("insecure", Ty::Bool, false),
        ("destination", Ty::Str, false),
        ("chown", Ty::Bool, false),
    ],
    blocks: &[
        ("options", Nest::One, Body::MapStr),
        ("headers", Nest::One, Body::MapStr),
    ],
};

pub static S_VAULT: Schema = Schema {
    name: "Vault",
    labels: 0,
    attrs: &[
        ("policies", Ty::ListStr, false),
        ("role", Ty::Str, false),
        ("namespace", Ty::Str, false),
        ("cluster", Ty::Str, false),
        ("env", Ty::Bool, false),
        ("disable_file", Ty::Bool, false),
        ("change_mode", Ty::Str, false),
        ("change_signal", Ty::Str, false),
        ("allow_token_expiration", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_CONSUL: Schema = Schema {
    name: "Consul",
    labels: 0,
    attrs: &[
        ("namespace", Ty::Str, false),
        ("cluster", Ty::Str, false),
        ("partition", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_TEMPLATE: Schema = Schema {
    name: "Template",
    labels: 0,
    attrs: &[
        ("source", Ty::Str, false),
        ("destination", Ty::Str, false),
        ("data", Ty::Str, false),
        ("change_mode", Ty::Str, false),
        ("change_signal", Ty::Str, false),
        ("once", Ty::Bool, false),
        ("splay", Ty::Dur, false),
        ("perms", Ty::Str, false),
        ("uid", Ty::Num, false),
        ("gid", Ty::Num, false),
        ("left_delimiter", Ty::Str, false),
        ("right_delimiter", Ty::Str, false),
        ("env", Ty::Bool, false),
        ("vault_grace", Ty::Dur, false),
        ("error_on_missing_key", Ty::Bool, false),
    ],
    blocks: &[
        ("change_script", Nest::One, Body::S(&S_CHANGE_SCRIPT)),
        ("wait", Nest::One, Body::S(&S_WAIT_CONFIG)),
    ],
};

pub static S_CHANGE_SCRIPT: Schema = Schema {
    name: "ChangeScript",
    labels: 0,
    attrs: &[
        ("command", Ty::Str, true),
        ("args", Ty::ListStr, false),
        ("timeout", Ty::Dur, false),
        ("fail_on_error", Ty::Bool, true),
        ("run_on_first_render", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_WAIT_CONFIG: Schema = Schema {
    name: "WaitConfig",
    labels: 0,
    attrs: &[("min", Ty::Dur, true), ("max", Ty::Dur, true)],
    blocks: &[],
};

pub static S_DISPATCH_PAYLOAD_CONFIG: Schema = Schema {
    name: "DispatchPayloadConfig",
    labels: 0,
    attrs: &[("file", Ty::Str, false)],
    blocks: &[],
};

pub static S_TASK_CSI_PLUGIN_CONFIG: Schema = Schema {
    name: "TaskCSIPluginConfig",
    labels: 0,
    attrs: &[
        ("id", Ty::Str, false),
        ("type", Ty::Str, false),
        ("mount_dir", Ty::Str, false),
        ("stage_publish_base_dir", Ty::Str, false),
        ("health_timeout", Ty::Dur, false),
    ],
    blocks: &[],
};

pub static S_SCALING_POLICY: Schema = Schema {
    name: "ScalingPolicy",
    labels: 0,
    attrs: &[
        ("min", Ty::Num, false),
        ("max", Ty::Num, false),
        ("enabled", Ty::Bool, false),
        ("type", Ty::Str, false),
    ],
    blocks: &[("policy", Nest::One, Body::MapAny)],
};

pub static S_SECRET: Schema = Schema {
    name: "Secret",
    labels: 1,
    attrs: &[("provider", Ty::Str, false), ("path", Ty::Str, false)],
    blocks: &[
        ("config", Nest::One, Body::MapAny),
        ("env", Nest::One, Body::MapStr),
    ],
};

pub static S_ACTION: Schema = Schema {
    name: "Action",
    labels: 1,
    attrs: &[("command", Ty::Str, true), ("args", Ty::ListStr, false)],
    blocks: &[],
};

pub static S_TASK_SCHEDULE: Schema = Schema {
    name: "TaskSchedule",
    labels: 0,
    attrs: &[],
    blocks: &[("cron", Nest::One, Body::S(&S_TASK_SCHEDULE_CRON))],
};

pub static S_TASK_SCHEDULE_CRON: Schema = Schema {
    name: "TaskScheduleCron",
    labels: 0,
    attrs: &[
        ("start", Ty::Str, false),
        ("end", Ty::Str, false),
        ("timezone", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_SPREAD: Schema = Schema {
    name: "Spread",
    labels: 0,
    attrs: &[("attribute", Ty::Str, false), ("weight", Ty::Num, false)],
    blocks: &[("target", Nest::Many, Body::S(&S_SPREAD_TARGET))],
};

pub static S_SPREAD_TARGET: Schema = Schema {
    name: "SpreadTarget",
    labels: 1,
    attrs: &[("percent", Ty::Num, false)],
    blocks: &[],
};

pub static S_VOLUME_REQUEST: Schema = Schema {
    name: "VolumeRequest",
    labels: 1,
    attrs: &[
        ("type", Ty::Str, false),
        ("source", Ty::Str, false),
        ("read_only", Ty::Bool, false),
        ("sticky", Ty::Bool, false),
        ("access_mode", Ty::Str, false),
        ("attachment_mode", Ty::Str, false),
        ("per_alloc", Ty::Bool, false),
    ],
    blocks: &[("mount_options", Nest::One, Body::S(&S_CSI_MOUNT_OPTIONS))],
};

pub static S_CSI_MOUNT_OPTIONS: Schema = Schema {
    name: "CSIMountOptions",
    labels: 0,
    attrs: &[
        ("fs_type", Ty::Str, false),
        ("mount_flags", Ty::ListStr, false),
    ],
    blocks: &[],
};

pub static S_DISCONNECT_STRATEGY: Schema = Schema {
    name: "DisconnectStrategy",
    labels: 0,
    attrs: &[
        ("lost_after", Ty::Dur, false),
        ("stop_on_client_after", Ty::Dur, false),
        ("replace", Ty::Bool, false),
        ("reconcile", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_RESCHEDULE_POLICY: Schema = Schema {
    name: "ReschedulePolicy",
    labels: 0,
    attrs: &[
        ("attempts", Ty::Num, false),
        ("interval", Ty::Dur, false),
        ("delay", Ty::Dur, false),
        ("delay_function", Ty::Str, false),
        ("max_delay", Ty::Dur, false),
        ("unlimited", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_EPHEMERAL_DISK: Schema = Schema {
    name: "EphemeralDisk",
    labels: 0,
    attrs: &[
        ("sticky", Ty::Bool, false),
        ("migrate", Ty::Bool, false),
        ("size", Ty::Num, false),
    ],
    blocks: &[],
};

pub static S_UPDATE_STRATEGY: Schema = Schema {
    name: "UpdateStrategy",
    labels: 0,
    attrs: &[
        ("stagger", Ty::Dur, false),
        ("max_parallel", Ty::Num, false),
        ("health_check", Ty::Str, false),
        ("min_healthy_time", Ty::Dur, false),
        ("healthy_deadline", Ty::Dur, false),
        ("progress_deadline", Ty::Dur, false),
        ("canary", Ty::Num, false),
        ("auto_revert", Ty::Bool, false),
        ("auto_promote", Ty::Bool, false),
    ],
    blocks: &[],
};

pub static S_MIGRATE_STRATEGY: Schema = Schema {
    name: "MigrateStrategy",
    labels: 0,
    attrs: &[
        ("max_parallel", Ty::Num, false),
        ("health_check", Ty::Str, false),
        ("min_healthy_time", Ty::Dur, false),
        ("healthy_deadline", Ty::Dur, false),
    ],
    blocks: &[],
};

pub static S_MULTIREGION: Schema = Schema {
    name: "Multiregion",
    labels: 0,
    attrs: &[],
    blocks: &[
        ("strategy", Nest::One, Body::S(&S_MULTIREGION_STRATEGY)),
        ("region", Nest::Many, Body::S(&S_MULTIREGION_REGION)),
    ],
};

pub static S_MULTIREGION_STRATEGY: Schema = Schema {
    name: "MultiregionStrategy",
    labels: 0,
    attrs: &[
        ("max_parallel", Ty::Num, false),
        ("on_failure", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_MULTIREGION_REGION: Schema = Schema {
    name: "MultiregionRegion",
    labels: 1,
    attrs: &[
        ("count", Ty::Num, false),
        ("datacenters", Ty::ListStr, false),
        ("node_pool", Ty::Str, false),
    ],
    blocks: &[("meta", Nest::One, Body::MapStr)],
};

pub static S_PERIODIC_CONFIG: Schema = Schema {
    name: "PeriodicConfig",
    labels: 0,
    attrs: &[
        ("enabled", Ty::Bool, false),
        ("cron", Ty::Str, false),
        ("crons", Ty::ListStr, false),
        ("prohibit_overlap", Ty::Bool, false),
        ("time_zone", Ty::Str, false),
    ],
    blocks: &[],
};

pub static S_PARAMETERIZED_JOB_CONFIG: Schema = Schema {
    name: "ParameterizedJobConfig",
    labels: 0,
    attrs: &[
        ("payload", Ty::Str, false),
        ("meta_required", Ty::ListStr, false),
        ("meta_optional", Ty::ListStr, false),
    ],
    blocks: &[],
};

pub static S_JOB_UI_CONFIG: Schema = Schema {
    name: "JobUIConfig",
    labels: 0,
    attrs: &[("description", Ty::Str, false)],
    blocks: &[("link", Nest::Many, Body::S(&S_JOB_UI_LINK))],
};

pub static S_JOB_UI_LINK: Schema = Schema {
    name: "JobUILink",
    labels: 0,
    attrs: &[("label", Ty::Str, false), ("url", Ty::Str, false)],
    blocks: &[],
};
