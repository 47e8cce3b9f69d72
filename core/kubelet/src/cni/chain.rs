//! The CNI runtime: runs a network's plugin chain for ADD, DEL, CHECK, STATUS and GC.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use skiff_cni_skel::{Attachment, CniResult, version};

use super::cache::{self, CacheEntry};
use super::config::{self, CniConfig, NetworkConfigList};
use super::exec::{self, Invocation};
use super::pod::{AddResult, PodNetwork};

/// Errors of the CNI runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network configuration could not be loaded.
    #[error("failed to load the network configuration")]
    Config(#[from] config::Error),
    /// A plugin failed.
    #[error("network {network}: {source}")]
    Plugin {
        /// The network name.
        network: String,
        /// The failure.
        #[source]
        source: exec::Error,
    },
    /// The result cache failed.
    #[error("failed to use the cni result cache")]
    Cache(#[from] cache::Error),
    /// The chain's result does not decode.
    #[error("network {network}: the plugin chain returned an invalid result")]
    BadResult {
        /// The network name.
        network: String,
        /// Why.
        #[source]
        source: skiff_cni_skel::Error,
    },
    /// CHECK needs an earlier ADD.
    #[error("network {network}: no cached ADD result for {container_id}/{ifname}")]
    NotAttached {
        /// The network name.
        network: String,
        /// The container.
        container_id: String,
        /// The interface.
        ifname: String,
    },
}

/// The kubelet's CNI runtime. Configuration is re-read on every call, so a network that
/// appears after start-up is picked up (and STATUS reports its absence until then).
#[derive(Clone, Debug)]
pub struct CniRuntime {
    config: CniConfig,
}

/// Capability arguments (`runtimeConfig`) for a pod.
pub(super) fn capability_args(pod: &PodNetwork) -> Value {
    let mut args = Map::new();
    if !pod.port_mappings.is_empty() {
        args.insert("portMappings".into(), json!(pod.port_mappings));
    }
    if let Some(dns) = &pod.dns {
        args.insert("dns".into(), json!(dns));
    }
    Value::Object(args)
}

/// The stdin of one plugin: its own section plus the list's name and version, the
/// capability arguments it declared, and extra fields (`prevResult`, valid attachments).
pub(super) fn plugin_conf(
    list: &NetworkConfigList,
    plugin: &Map<String, Value>,
    runtime_config: &Value,
    extra: &[(&str, Value)],
) -> Value {
    let mut conf = plugin.clone();
    conf.insert("name".into(), json!(list.name));
    conf.insert("cniVersion".into(), json!(list.cni_version));
    let declared: Map<String, Value> = plugin
        .get("capabilities")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, on)| on.as_bool() == Some(true))
        .filter_map(|(cap, _)| Some((cap.clone(), runtime_config.get(cap)?.clone())))
        .collect();
    if !declared.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(declared));
    }
    for (key, value) in extra {
        conf.insert((*key).into(), value.clone());
    }
    Value::Object(conf)
}

fn list_to_json(list: &NetworkConfigList) -> Value {
    json!({
        "cniVersion": list.cni_version,
        "name": list.name,
        "disableCheck": list.disable_check,
        "disableGC": list.disable_gc,
        "plugins": list.plugins,
    })
}

fn list_from_json(value: &Value) -> Option<NetworkConfigList> {
    NetworkConfigList::parse(value.to_string().as_bytes(), true).ok()
}

impl CniRuntime {
    /// A runtime reading from the configured directories.
    pub fn new(config: CniConfig) -> Self {
        Self { config }
    }

    /// The current network configuration.
    pub fn network(&self) -> Result<NetworkConfigList, Error> {
        Ok(NetworkConfigList::load_dir(&self.config.conf_dir)?)
    }

    async fn run_plugin(
        &self,
        list: &NetworkConfigList,
        plugin: &Map<String, Value>,
        inv: &Invocation<'_>,
        conf: &Value,
    ) -> Result<Value, Error> {
        let plugin_type = plugin.get("type").and_then(Value::as_str).unwrap_or("");
        exec::run(plugin_type, inv, conf)
            .await
            .map_err(|source| Error::Plugin {
                network: list.name.clone(),
                source,
            })
    }

    /// Attaches the pod: runs the chain in order, each plugin getting the previous result,
    /// and caches the final result. If a plugin fails, the chain is deleted again so no
    /// address or interface leaks, and the first error is returned.
    pub async fn add(&self, pod: &PodNetwork) -> Result<AddResult, Error> {
        let list = self.network()?;
        let runtime_config = capability_args(pod);
        let args = pod.cni_args();
        let inv = Invocation {
            command: "ADD",
            container_id: &pod.container_id,
            netns: Some(&pod.netns),
            ifname: pod.ifname(),
            args: &args,
            bin_dirs: &self.config.bin_dirs,
        };
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let extra: Vec<(&str, Value)> =
                prev.iter().map(|p| ("prevResult", p.clone())).collect();
            let conf = plugin_conf(&list, plugin, &runtime_config, &extra);
            match self.run_plugin(&list, plugin, &inv, &conf).await {
                Ok(result) => prev = Some(result),
                Err(err) => {
                    let _ = self
                        .del_chain(&list, pod, &args, &runtime_config, None)
                        .await;
                    return Err(err);
                }
            }
        }
        let final_result = prev.unwrap_or(Value::Null);
        let result = CniResult::from_json(&final_result).map_err(|source| Error::BadResult {
            network: list.name.clone(),
            source,
        })?;
        cache::store(
            &self.config.cache_dir,
            &CacheEntry {
                kind: "skiffCniCacheV1".into(),
                container_id: pod.container_id.clone(),
                if_name: pod.ifname().to_string(),
                network_name: list.name.clone(),
                netns: pod.netns.clone(),
                cni_args: args,
                runtime_config,
                config: list_to_json(&list),
                result: final_result,
            },
        )?;
        Ok(AddResult {
            ips: result.addresses(),
            result,
        })
    }

    async fn del_chain(
        &self,
        list: &NetworkConfigList,
        pod: &PodNetwork,
        args: &str,
        runtime_config: &Value,
        prev: Option<&Value>,
    ) -> Result<(), Error> {
        let inv = Invocation {
            command: "DEL",
            container_id: &pod.container_id,
            netns: Some(pod.netns.as_path()).filter(|p| !p.as_os_str().is_empty()),
            ifname: pod.ifname(),
            args,
            bin_dirs: &self.config.bin_dirs,
        };
        let extra: Vec<(&str, Value)> = prev
            .filter(|p| !p.is_null())
            .map(|p| ("prevResult", p.clone()))
            .into_iter()
            .collect();
        for plugin in list.plugins.iter().rev() {
            let conf = plugin_conf(list, plugin, runtime_config, &extra);
            self.run_plugin(list, plugin, &inv, &conf).await?;
        }
        Ok(())
    }

    /// Detaches the pod: runs the chain in reverse with the cached configuration and result
    /// (the current configuration when nothing is cached), then forgets the attachment.
    /// Deleting twice, or deleting a pod whose namespace is gone, succeeds.
    pub async fn del(&self, pod: &PodNetwork) -> Result<(), Error> {
        let current = self.network()?;
        let cached = cache::load(
            &self.config.cache_dir,
            &current.name,
            &pod.container_id,
            pod.ifname(),
        )?;
        match &cached {
            Some(entry) => {
                let list = list_from_json(&entry.config).unwrap_or_else(|| current.clone());
                self.del_chain(
                    &list,
                    pod,
                    &entry.cni_args,
                    &entry.runtime_config,
                    Some(&entry.result),
                )
                .await?;
            }
            None => {
                self.del_chain(&current, pod, &pod.cni_args(), &capability_args(pod), None)
                    .await?;
            }
        }
        cache::remove(
            &self.config.cache_dir,
            &current.name,
            &pod.container_id,
            pod.ifname(),
        )?;
        Ok(())
    }

    /// Verifies the attachment with every plugin, passing the cached ADD result. Skipped
    /// for versions before 0.4.0 and for lists with `disableCheck`.
    pub async fn check(&self, pod: &PodNetwork) -> Result<(), Error> {
        let list = self.network()?;
        if list.disable_check || !version::at_least(&list.cni_version, "0.4.0") {
            return Ok(());
        }
        let entry = cache::load(
            &self.config.cache_dir,
            &list.name,
            &pod.container_id,
            pod.ifname(),
        )?
        .ok_or_else(|| Error::NotAttached {
            network: list.name.clone(),
            container_id: pod.container_id.clone(),
            ifname: pod.ifname().to_string(),
        })?;
        let inv = Invocation {
            command: "CHECK",
            container_id: &pod.container_id,
            netns: Some(&pod.netns),
            ifname: pod.ifname(),
            args: &entry.cni_args,
            bin_dirs: &self.config.bin_dirs,
        };
        for plugin in &list.plugins {
            let conf = plugin_conf(
                &list,
                plugin,
                &entry.runtime_config,
                &[("prevResult", entry.result.clone())],
            );
            self.run_plugin(&list, plugin, &inv, &conf).await?;
        }
        Ok(())
    }

    /// Whether the network is ready for ADD: a configuration exists, every plugin binary is
    /// present, and (from 1.1.0) every plugin answers STATUS successfully.
    pub async fn status(&self) -> Result<(), Error> {
        let list = self.network()?;
        for plugin in list.plugin_types() {
            exec::find(plugin, &self.config.bin_dirs).map_err(|source| Error::Plugin {
                network: list.name.clone(),
                source,
            })?;
        }
        if !version::at_least(&list.cni_version, "1.1.0") {
            return Ok(());
        }
        let inv = Invocation {
            command: "STATUS",
            container_id: "",
            netns: None,
            ifname: "",
            args: "",
            bin_dirs: &self.config.bin_dirs,
        };
        for plugin in &list.plugins {
            let conf = plugin_conf(&list, plugin, &Value::Null, &[]);
            self.run_plugin(&list, plugin, &inv, &conf).await?;
        }
        Ok(())
    }

    /// Releases everything not held by `valid`: cached attachments missing from it are
    /// deleted, then (from 1.1.0, unless `disableGC`) every plugin gets GC with the list.
    pub async fn gc(&self, valid: &[Attachment]) -> Result<(), Error> {
        let list = self.network()?;
        let keep: HashSet<(&str, &str)> = valid
            .iter()
            .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
            .collect();
        for entry in cache::list(&self.config.cache_dir, &list.name)? {
            if keep.contains(&(entry.container_id.as_str(), entry.if_name.as_str())) {
                continue;
            }
            let pod = PodNetwork {
                container_id: entry.container_id.clone(),
                netns: entry.netns.clone(),
                ifname: entry.if_name.clone(),
                ..PodNetwork::default()
            };
            let cached_list = list_from_json(&entry.config).unwrap_or_else(|| list.clone());
            self.del_chain(
                &cached_list,
                &pod,
                &entry.cni_args,
                &entry.runtime_config,
                Some(&entry.result),
            )
            .await?;
            cache::remove(
                &self.config.cache_dir,
                &list.name,
                &entry.container_id,
                &entry.if_name,
            )?;
        }
        if list.disable_gc || !version::at_least(&list.cni_version, "1.1.0") {
            return Ok(());
        }
        let inv = Invocation {
            command: "GC",
            container_id: "",
            netns: None,
            ifname: "",
            args: "",
            bin_dirs: &self.config.bin_dirs,
        };
        for plugin in &list.plugins {
            let conf = plugin_conf(
                &list,
                plugin,
                &Value::Null,
                &[("cni.dev/valid-attachments", json!(valid))],
            );
            self.run_plugin(&list, plugin, &inv, &conf).await?;
        }
        Ok(())
    }

    /// The configured directories.
    pub fn config(&self) -> &CniConfig {
        &self.config
    }
}
