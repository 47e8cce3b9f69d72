//! What the driver is told at start: which node it runs on, where volumes live, size limits.

use std::path::PathBuf;

/// The name the driver reports in `GetPluginInfo`; StorageClasses name it as `provisioner`.
pub const DRIVER_NAME: &str = "hostpath.csi.skiff.dev";

/// The topology key whose value is the node a volume lives on. Volumes are node-local, so the
/// scheduler must place pods that use one on the node in this segment.
pub const TOPOLOGY_NODE_KEY: &str = "topology.hostpath.csi.skiff.dev/node";

/// Settings of one driver instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node id reported by `NodeGetInfo` and stamped on every volume's topology.
    pub node_id: String,
    /// Directory holding the state file and one directory per volume and snapshot.
    pub root: PathBuf,
    /// The largest volume `CreateVolume` accepts; larger requests get OUT_OF_RANGE.
    pub max_volume_size: i64,
    /// The total bytes all volumes together may claim; `GetCapacity` reports what is left.
    pub capacity: i64,
    /// Reported by `NodeGetInfo`; 0 means no limit.
    pub max_volumes_per_node: i64,
}

impl Config {
    /// A config with the defaults of the command line: 1 TiB per volume, 1 TiB in all,
    /// at most 1000 volumes per node.
    pub fn new(node_id: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        Self {
            node_id: node_id.into(),
            root: root.into(),
            max_volume_size: 1 << 40,
            capacity: 1 << 40,
            max_volumes_per_node: 1000,
        }
    }
}
