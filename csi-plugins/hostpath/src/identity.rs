//! The CSI Identity service: who the driver is, what it offers, whether it is ready.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::config::DRIVER_NAME;
use crate::csi::v1::identity_server::Identity;
use crate::csi::v1::plugin_capability::{self, service};
use crate::csi::v1::{
    GetPluginCapabilitiesRequest, GetPluginCapabilitiesResponse, GetPluginInfoRequest,
    GetPluginInfoResponse, PluginCapability, ProbeRequest, ProbeResponse,
};
use crate::driver::Driver;

/// Serves Identity for one driver.
#[derive(Debug, Clone)]
pub struct IdentityService {
    driver: Arc<Driver>,
}

impl IdentityService {
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }
}

fn service_capability(kind: service::Type) -> PluginCapability {
    PluginCapability {
        r#type: Some(plugin_capability::Type::Service(
            plugin_capability::Service {
                r#type: kind as i32,
            },
        )),
    }
}

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn get_plugin_info(
        &self,
        _: Request<GetPluginInfoRequest>,
    ) -> Result<Response<GetPluginInfoResponse>, Status> {
        Ok(Response::new(GetPluginInfoResponse {
            name: DRIVER_NAME.to_owned(),
            vendor_version: env!("CARGO_PKG_VERSION").to_owned(),
            manifest: Default::default(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<GetPluginCapabilitiesRequest>,
    ) -> Result<Response<GetPluginCapabilitiesResponse>, Status> {
        Ok(Response::new(GetPluginCapabilitiesResponse {
            capabilities: vec![
                service_capability(service::Type::ControllerService),
                service_capability(service::Type::VolumeAccessibilityConstraints),
                // Growing a volume only changes its recorded size, so it works while in use.
                PluginCapability {
                    r#type: Some(plugin_capability::Type::VolumeExpansion(
                        plugin_capability::VolumeExpansion {
                            r#type: plugin_capability::volume_expansion::Type::Online as i32,
                        },
                    )),
                },
            ],
        }))
    }

    /// Ready when the volume root is still there: a driver whose root vanished (an unmounted
    /// disk) must not be handed new volumes.
    async fn probe(&self, _: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        let ready = self.driver.config.root.join("volumes").is_dir();
        Ok(Response::new(ProbeResponse { ready: Some(ready) }))
    }
}
