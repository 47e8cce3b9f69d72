//! Leader election through a `coordination.k8s.io/v1` Lease, with client-go's rules: a lease
//! is held while its record keeps changing within `lease_duration` *as observed locally*
//! (so clocks of different machines never matter), a leader renews every `retry_period` and
//! steps down when it could not renew for `renew_deadline`, and it releases the lease on
//! shutdown so a standby takes over at once.
//!
//! Written by hand: kube-runtime 5 has no lease elector.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::LeaderElection;

/// Why one attempt to acquire or renew failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("lease {name}")]
    Api {
        /// The lease.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

struct Elector {
    api: Api<Lease>,
    config: LeaderElection,
    observed: Option<(Option<String>, Option<String>)>,
    observed_at: Instant,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    fn error(&self, source: kube::Error) -> Error {
        Error::Api {
            name: self.config.lease_name.clone(),
            source,
        }
    }

    /// One attempt: `Ok(true)` when this host holds the lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let me = self.config.identity.clone();
        let duration = self.config.lease_duration.as_secs().max(1) as i32;
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.lease_name)
            .await
            .map_err(|e| self.error(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
                Err(error) => Err(self.error(error)),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0.to_string()),
        );
        if self.observed.as_ref() != Some(&record) {
            self.observed = Some(record);
            self.observed_at = Instant::now();
        }
        let held_by_other = holder.as_ref().is_some_and(|h| *h != me)
            && self.observed_at.elapsed() < self.config.lease_duration;
        if held_by_other {
            return Ok(false);
        }
        if holder.as_deref() != Some(me.as_str()) {
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
            Err(error) => Err(self.error(error)),
        }
    }

    /// Gives the lease up so a standby need not wait for it to expire.
    async fn release(&mut self) -> Result<(), Error> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.lease_name)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        self.api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }
}

/// Runs the election until `cancel`; the receiver says whether this host leads now.
pub fn spawn(
    client: Client,
    config: LeaderElection,
    cancel: CancellationToken,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (leading, receiver) = watch::channel(false);
    let mut elector = Elector {
        api: Api::namespaced(client, &config.namespace),
        config,
        observed: None,
        observed_at: Instant::now(),
    };
    let task = tokio::spawn(async move {
        let mut last_renewal = Instant::now();
        loop {
            match elector.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewal = Instant::now();
                    if !*leading.borrow() {
                        tracing::info!(identity = %elector.config.identity, lease = %elector.config.lease_name, "became leader");
                        leading.send_replace(true);
                    }
                }
                Ok(false) => {
                    if *leading.borrow() {
                        tracing::warn!(identity = %elector.config.identity, "lost the lease to another host");
                        leading.send_replace(false);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election attempt failed");
                    if *leading.borrow() && last_renewal.elapsed() >= elector.config.renew_deadline
                    {
                        tracing::warn!(identity = %elector.config.identity, "could not renew the lease in time, stepping down");
                        leading.send_replace(false);
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(elector.config.retry_period) => {}
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            if let Err(error) = elector.release().await {
                tracing::warn!(%error, "could not release the lease");
            }
        }
    });
    (receiver, task)
}

/// A receiver that always says "leading", for hosts that do not elect.
pub fn always() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(true);
    // Keep the value readable forever: a dropped sender leaves `borrow` working, but
    // `wait_for` would fail, so the sender is leaked on purpose (one per host).
    std::mem::forget(sender);
    receiver
}

/// How long a standby may wait before it takes over from a leader that vanished without
/// releasing: the lease duration plus one retry period.
pub fn takeover_bound(config: &LeaderElection) -> Duration {
    config.lease_duration + config.retry_period
}
