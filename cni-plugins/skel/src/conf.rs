//! The fields every network configuration shares, as a plugin receives them on stdin.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::CniResult;

/// The common part of a plugin's configuration; plugins read their own fields separately.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NetConf {
    /// The spec version the runtime speaks for this call.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// The network name.
    #[serde(default)]
    pub name: String,
    /// The plugin's type (its executable's name).
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// The IPAM section, when the plugin delegates address management.
    #[serde(default)]
    pub ipam: Option<serde_json::Value>,
    /// The result of the previous plugin in the chain (ADD), or the cached result (DEL, CHECK).
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<serde_json::Value>,
    /// Capability arguments the runtime filled in.
    #[serde(rename = "runtimeConfig", default)]
    pub runtime_config: Option<serde_json::Value>,
    /// GC only: the attachments that are still in use.
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<Attachment>>,
}

/// One attachment of a container to a network, as listed for GC.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// The container id.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The interface name in the container.
    pub ifname: String,
}

impl NetConf {
    /// Parses the common fields.
    pub fn parse(stdin: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(stdin).map_err(|e| Error::from_json("network configuration", &e))
    }

    /// The previous result, parsed.
    pub fn prev_result(&self) -> Result<Option<CniResult>, Error> {
        self.prev_result
            .as_ref()
            .map(CniResult::from_json)
            .transpose()
    }

    /// The `type` of the IPAM section, if there is one.
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam.as_ref()?.get("type")?.as_str()
    }
}
