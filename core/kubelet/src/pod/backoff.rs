//! The crash-loop back-off of one container: the first restart is immediate, then each waits
//! twice as long as the last, up to a maximum; a container that ran long enough resets it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::BackoffConfig;

/// Back-off state of one container (or one image pull).
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    /// The wait before the next restart; `None` before the first.
    delay: Option<Duration>,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            delay: None,
        }
    }

    /// The current wait (zero before the first restart).
    pub fn delay(&self) -> Duration {
        self.delay.unwrap_or(Duration::ZERO)
    }

    /// When a container that exited at `finished` after running `ran` may start again.
    pub fn ready_at(&mut self, finished: DateTime<Utc>, ran: Duration) -> DateTime<Utc> {
        if ran >= self.config.reset_after {
            self.delay = None;
        }
        finished + chrono::Duration::from_std(self.delay()).unwrap_or_default()
    }

    /// Records a restart: the next one waits longer.
    pub fn restarted(&mut self) {
        self.delay = Some(match self.delay {
            None => self.config.initial,
            Some(d) => (d * 2).min(self.config.max),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(40),
            reset_after: Duration::from_secs(600),
        }
    }

    #[test]
    fn delays_start_at_zero_then_double_up_to_the_maximum() {
        let mut b = Backoff::new(config());
        let t = Utc::now();
        let mut waits = Vec::new();
        for _ in 0..5 {
            waits.push((b.ready_at(t, Duration::from_secs(1)) - t).num_seconds());
            b.restarted();
        }
        assert_eq!(waits, vec![0, 10, 20, 40, 40]);
    }

    #[test]
    fn a_long_run_resets_the_delay() {
        let mut b = Backoff::new(config());
        b.restarted();
        b.restarted();
        let t = Utc::now();
        assert_eq!(
            (b.ready_at(t, Duration::from_secs(5)) - t).num_seconds(),
            20
        );
        assert_eq!(
            (b.ready_at(t, Duration::from_secs(601)) - t).num_seconds(),
            0
        );
    }
}
