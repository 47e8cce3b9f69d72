//! The sandbox: a raw engine with only the packages scripts need, no module resolver or file
//! access, size and depth limits, and a wall-clock budget per call.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine};
use serde::Deserialize;

use crate::controller::Context;

/// Limits of one script; defaults suit controllers over a few thousand objects.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Operations per call. Default 10 000 000.
    pub max_operations: u64,
    /// Function call depth. Default 64.
    pub max_call_levels: usize,
    /// Bytes in one string. Default 4 MiB.
    pub max_string_size: usize,
    /// Items in one array. Default 100 000.
    pub max_array_size: usize,
    /// Entries in one map. Default 100 000.
    pub max_map_size: usize,
    /// Expression nesting depth (global, in functions). Default (64, 32).
    pub max_expr_depths: (usize, usize),
    /// Wall-clock budget of one call (reconcile, mapping, config). Default 10 s.
    #[serde(with = "duration_ms")]
    pub wall_clock: Duration,
}

mod duration_ms {
    use std::time::Duration;

    use serde::Deserialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 10_000_000,
            max_call_levels: 64,
            max_string_size: 4 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_expr_depths: (64, 32),
            wall_clock: Duration::from_secs(10),
        }
    }
}

thread_local! {
    /// When the current call on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The context of the reconcile running on this thread (none while `config()` runs).
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// The token a call stopped by its wall-clock budget terminates with.
pub const WALL_CLOCK_TOKEN: &str = "wall-clock budget exceeded";

/// Runs `f` with a wall-clock deadline and, for reconciles and mappings, a context; both are
/// cleared afterwards even if `f` fails.
pub fn with_call<T>(budget: Duration, context: Option<Context>, f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(None));
            CONTEXT.with(|c| c.borrow_mut().take());
        }
    }
    DEADLINE.with(|d| d.set(Some(Instant::now() + budget)));
    CONTEXT.with(|c| *c.borrow_mut() = context);
    let _reset = Reset;
    f()
}

/// The context of the current call, or an error for functions that need one.
pub fn current_context() -> Result<Context, Box<rhai::EvalAltResult>> {
    CONTEXT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| "cluster functions are not available in config()".into())
}

/// A sandboxed engine with the limits applied and `print`/`debug` sent to tracing.
pub fn sandbox(script: &str, limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    for package in [
        CorePackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_expr_depths(limits.max_expr_depths.0, limits.max_expr_depths.1)
        .set_max_modules(0);
    engine.on_progress(|operations| {
        // Reading the clock on every operation would cost more than the operations.
        if operations % 512 != 0 {
            return None;
        }
        let expired = DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline));
        expired.then(|| Dynamic::from(WALL_CLOCK_TOKEN))
    });
    let name = script.to_string();
    engine.on_print(move |text| tracing::info!(script = %name, "{text}"));
    let name = script.to_string();
    engine.on_debug(move |text, _, position| tracing::debug!(script = %name, %position, "{text}"));
    engine
}
