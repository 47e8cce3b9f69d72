//! Per-controller metrics in the Prometheus text format, served on `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("binding the metrics address {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The label every metric carries.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// The controller's name.
    pub controller: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The host's metrics.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabel, Counter>,
    errors: Family<ControllerLabel, Counter>,
    queue_depth: Family<ControllerLabel, Gauge>,
    duration: Family<ControllerLabel, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skiff_controller");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let errors = Family::<ControllerLabel, Counter>::default();
        let queue_depth = Family::<ControllerLabel, Gauge>::default();
        let duration =
            Family::<ControllerLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                histogram,
            );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register("errors", "Reconciles that failed", errors.clone());
        registry.register(
            "queue_depth",
            "Keys waiting in the work queue",
            queue_depth.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in reconcile",
            duration.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            queue_depth,
            duration,
        }
    }
}

impl Metrics {
    fn label(controller: &str) -> ControllerLabel {
        ControllerLabel {
            controller: controller.to_string(),
        }
    }

    /// Counts one reconcile and its duration.
    pub fn reconciled(&self, controller: &str, took: Duration, failed: bool) {
        let label = Self::label(controller);
        self.reconciles.get_or_create(&label).inc();
        if failed {
            self.errors.get_or_create(&label).inc();
        }
        self.duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// Records the current queue depth.
    pub fn queue_depth(&self, controller: &str, depth: usize) {
        self.queue_depth
            .get_or_create(&Self::label(controller))
            .set(depth as i64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a string cannot fail");
        text
    }

    /// Serves `/metrics` on `addr` until `cancel`; returns the bound address.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<SocketAddr, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = self.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
        });
        Ok(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_appear_per_controller() {
        let metrics = Metrics::default();
        metrics.reconciled("web", Duration::from_millis(3), false);
        metrics.reconciled("web", Duration::from_millis(3), true);
        metrics.queue_depth("web", 4);
        let text = metrics.encode();
        assert!(
            text.contains("skiff_controller_reconciles_total{controller=\"web\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("skiff_controller_errors_total{controller=\"web\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("skiff_controller_queue_depth{controller=\"web\"} 4"),
            "{text}"
        );
        assert!(
            text.contains(
                "skiff_controller_reconcile_duration_seconds_count{controller=\"web\"} 2"
            ),
            "{text}"
        );
    }
}
