//! One Rhai controller: engine + compiled AST + its checked configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use serde_json::Value;

use super::api;
use super::engine::{Limits, WALL_CLOCK_TOKEN, sandbox, with_call};
use crate::controller::{Action, Context, Controller, ControllerConfig, ObjectKey, ReconcileError};

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("reading {path}")]
    Read {
        /// The script.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The script does not compile.
    #[error("{file}: syntax error: {message}")]
    Syntax {
        /// The script's file name.
        file: String,
        /// The parser's message, with line and position.
        message: String,
    },
    /// `config()` failed or returned something that is not a controller configuration.
    #[error("{file}: invalid config(): {message}")]
    Config {
        /// The script's file name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// A compiled, checked script.
pub struct RhaiController {
    file: String,
    engine: Engine,
    ast: AST,
    config: ControllerConfig,
    limits: Limits,
}

/// Formats a script error with the file name, the function it happened in and the line.
fn describe(file: &str, called: &str, error: &EvalAltResult, limits: &Limits) -> String {
    // Walk down the chain of calls to the innermost error, remembering the innermost
    // function and the innermost known position.
    let mut current = error;
    let mut function = Some(called);
    let mut position = error.position();
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = current {
        function = Some(name.as_str());
        if !inner.position().is_none() {
            position = inner.position();
        }
        current = inner;
    }
    let message = match current {
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == WALL_CLOCK_TOKEN => {
            format!(
                "wall-clock budget of {} ms exceeded",
                limits.wall_clock.as_millis()
            )
        }
        // The innermost error's own text, without its position (added below).
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(cut) if !other.position().is_none() => text[..cut].to_string(),
                _ => text,
            }
        }
    };
    let mut out = format!("{file}: {message}");
    if let Some(function) = function {
        out.push_str(&format!(" in {function}()"));
    }
    if let Some(line) = position.line() {
        out.push_str(&format!(" at line {line}"));
        if let Some(column) = position.position() {
            out.push_str(&format!(", position {column}"));
        }
    }
    out.replace('\n', " ")
}

impl RhaiController {
    /// Loads, compiles and checks a script file.
    pub fn load(path: &Path, limits: &Limits) -> Result<Self, Error> {
        let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::compile(&file, &source, limits)
    }

    /// Compiles and checks script source named `file` (the name errors carry).
    pub fn compile(file: &str, source: &str, limits: &Limits) -> Result<Self, Error> {
        let mut engine = sandbox(file, limits);
        api::register(&mut engine);
        let mut ast = engine.compile(source).map_err(|e| Error::Syntax {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        ast.set_source(file);
        let config_error = |message: String| Error::Config {
            file: file.to_string(),
            message,
        };
        let raw: Dynamic = with_call(limits.wall_clock, None, || {
            engine.call_fn(&mut Scope::new(), &ast, "config", ())
        })
        .map_err(|e| config_error(describe(file, "config", &e, limits)))?;
        let raw = api::to_json(&raw).map_err(|e| config_error(e.to_string()))?;
        let config: ControllerConfig =
            serde_json::from_value(raw).map_err(|e| config_error(e.to_string()))?;
        if config.name.is_empty() {
            return Err(config_error("name must not be empty".into()));
        }
        config.check_fields().map_err(config_error)?;
        let functions: Vec<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
        if !functions.iter().any(|f| f == "reconcile") {
            return Err(config_error(
                "the script defines no reconcile(obj, ctx)".into(),
            ));
        }
        for watch in &config.watches {
            if let Some(map) = &watch.map
                && !functions.contains(map)
            {
                return Err(config_error(format!(
                    "watch of {} names mapping function {map} which the script does not define",
                    watch.kind
                )));
            }
        }
        Ok(RhaiController {
            file: file.to_string(),
            engine,
            ast,
            config,
            limits: limits.clone(),
        })
    }

    /// Calls a mapping function and reads the keys it returned.
    fn map_value(
        &self,
        function: &str,
        obj: Dynamic,
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        let result = self.call(function, obj, ctx)?;
        api::keys(&result)
            .map_err(|e| ReconcileError::new(describe(&self.file, function, &e, &self.limits)))
    }

    /// The script's file name.
    pub fn file(&self) -> &str {
        &self.file
    }

    fn call(&self, function: &str, obj: Dynamic, ctx: &Context) -> Result<Dynamic, ReconcileError> {
        let fail = |e: Box<EvalAltResult>| {
            ReconcileError::new(describe(&self.file, function, &e, &self.limits))
        };
        with_call(self.limits.wall_clock, Some(ctx.clone()), || {
            if function == "reconcile" {
                let mut ctx_map = rhai::Map::new();
                ctx_map.insert("name".into(), ctx.name.clone().into());
                ctx_map.insert("now".into(), ctx.now.clone().into());
                self.engine
                    .call_fn(&mut Scope::new(), &self.ast, function, (obj, ctx_map))
            } else {
                self.engine
                    .call_fn(&mut Scope::new(), &self.ast, function, (obj,))
            }
        })
        .map_err(fail)
    }
}

impl Controller for RhaiController {
    fn config(&self) -> &ControllerConfig {
        &self.config
    }

    fn reconcile(&self, obj: &Value, ctx: &Context) -> Result<Action, ReconcileError> {
        let result = self.call("reconcile", api::to_dynamic(obj), ctx)?;
        let result = api::to_json(&result)
            .map_err(|e| ReconcileError::new(format!("{}: {e}", self.file)))?;
        match result.get("requeue_after").and_then(Value::as_f64) {
            Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
                Ok(Action::RequeueAfter(Duration::from_secs_f64(seconds)))
            }
            _ => Ok(Action::Wait),
        }
    }

    fn map(
        &self,
        function: &str,
        obj: &Value,
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        self.map_value(function, api::to_dynamic(obj), ctx)
    }

    fn map_fields(
        &self,
        function: &str,
        obj: &Value,
        fields: &[String],
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        let projected: rhai::Map = crate::projection::project_into(obj, fields);
        self.map_value(function, Dynamic::from_map(projected), ctx)
    }
}
