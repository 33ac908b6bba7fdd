//! The fixed catalogs clusters are built from: Databricks Runtime versions (`spark-versions`)
//! and node types (`list-node-types`), enough for the SDK's `select_spark_version` and
//! `select_node_type` to find a sensible answer.

use serde_json::{Value, json};

/// `(key, name)` of every Databricks Runtime version offered.
pub const SPARK_VERSIONS: [(&str, &str); 9] = [
    (
        "17.0.x-scala2.13",
        "17.0 (includes Apache Spark 4.0.0, Scala 2.13)",
    ),
    (
        "16.4.x-scala2.12",
        "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-scala2.13",
        "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.13)",
    ),
    (
        "16.4.x-photon-scala2.12",
        "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-cpu-ml-scala2.12",
        "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "15.4.x-scala2.12",
        "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "15.4.x-gpu-ml-scala2.12",
        "15.4 LTS ML GPU (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "14.3.x-scala2.12",
        "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "13.3.x-scala2.12",
        "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)",
    ),
];

/// `GET /clusters/spark-versions`.
pub fn spark_versions() -> Value {
    let versions: Vec<Value> = SPARK_VERSIONS
        .iter()
        .map(|(key, name)| json!({"key": key, "name": name}))
        .collect();
    json!({ "versions": versions })
}

/// `(node_type_id, cores, memory_mb, gpus, local_disks, local_disk_size_gb)`.
const NODE_TYPES: [(&str, f64, i64, i64, i64, i64); 5] = [
    ("m5d.large", 2.0, 8192, 0, 1, 75),
    ("i3.xlarge", 4.0, 31232, 0, 1, 950),
    ("i3.2xlarge", 8.0, 62464, 0, 1, 1900),
    ("m5.xlarge", 4.0, 16384, 0, 0, 0),
    ("g4dn.xlarge", 4.0, 16384, 1, 1, 125),
];

/// `GET /clusters/list-node-types`.
pub fn node_types() -> Value {
    let node_types: Vec<Value> = NODE_TYPES
        .iter()
        .map(|&(id, cores, memory_mb, gpus, disks, disk_gb)| {
            json!({
                "node_type_id": id,
                "instance_type_id": id,
                "description": id,
                "category": if gpus > 0 { "GPU Accelerated" } else { "General Purpose" },
                "num_cores": cores,
                "memory_mb": memory_mb,
                "num_gpus": gpus,
                "is_deprecated": false,
                "is_hidden": false,
                "support_port_forwarding": true,
                "node_instance_type": {
                    "instance_type_id": id,
                    "local_disks": disks,
                    "local_disk_size_gb": disk_gb,
                    "local_nvme_disks": disks,
                    "local_nvme_disk_size_gb": disk_gb,
                },
            })
        })
        .collect();
    json!({ "node_types": node_types })
}
