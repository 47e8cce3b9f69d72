//! Filter and score plugins written in Rhai: every `*.rhai` file of a directory may define
//! `fn filter(pod, node)` (returns `true` to accept, `false` or a reason string to reject) and
//! `fn score(pod, node)` (returns an integer, higher is better). Scripts are compiled once and
//! run in a sandboxed engine with operation, depth and size limits.

use std::path::{Path, PathBuf};

use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Dynamic, Engine, Scope};

use crate::framework::{Failure, Plugin};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read plugin directory {path}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read plugin {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot compile plugin {path}")]
    Compile {
        path: PathBuf,
        #[source]
        source: rhai::ParseError,
    },
    #[error("plugin {path} defines neither filter(pod, node) nor score(pod, node)")]
    Empty { path: PathBuf },
}

/// Most operations one call may run before it is stopped.
pub const MAX_OPERATIONS: u64 = 100_000;

/// One compiled script with its engine.
pub struct RhaiPlugin {
    name: String,
    engine: Engine,
    ast: AST,
    has_filter: bool,
    has_score: bool,
}

impl std::fmt::Debug for RhaiPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiPlugin")
            .field("name", &self.name)
            .finish()
    }
}

fn engine() -> Engine {
    let mut e = Engine::new_raw();
    e.register_global_module(StandardPackage::new().as_shared_module());
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_call_levels(32);
    e.set_max_expr_depths(64, 32);
    e.set_max_string_size(64 * 1024);
    e.set_max_array_size(10_000);
    e.set_max_map_size(10_000);
    e.on_print(|s| tracing::info!(target: "skiff_scheduler::plugin", "{s}"));
    e
}

impl RhaiPlugin {
    /// Compiles a script; `name` appears in rejection reasons.
    pub fn compile(name: &str, source: &str, path: &Path) -> Result<RhaiPlugin, Error> {
        let engine = engine();
        let ast = engine.compile(source).map_err(|source| Error::Compile {
            path: path.to_path_buf(),
            source,
        })?;
        let has = |f: &str| {
            ast.iter_functions()
                .any(|d| d.name == f && d.params.len() == 2)
        };
        let (has_filter, has_score) = (has("filter"), has("score"));
        if !has_filter && !has_score {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(RhaiPlugin {
            name: name.to_string(),
            engine,
            ast,
            has_filter,
            has_score,
        })
    }

    /// Loads every `*.rhai` file of `dir`, in name order.
    pub fn load_dir(dir: &Path) -> Result<Vec<RhaiPlugin>, Error> {
        let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let src = std::fs::read_to_string(p).map_err(|source| Error::Read {
                    path: p.clone(),
                    source,
                })?;
                let name = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                RhaiPlugin::compile(&name.unwrap_or_default(), &src, p)
            })
            .collect()
    }

    fn call(&self, f: &str, pod: &PodInfo, node: &NodeInfo) -> Result<Dynamic, String> {
        let pod = rhai::serde::to_dynamic(&*pod.pod).map_err(|e| e.to_string())?;
        let node = match &node.node {
            Some(n) => rhai::serde::to_dynamic(&**n).map_err(|e| e.to_string())?,
            None => Dynamic::UNIT,
        };
        self.engine
            .call_fn::<Dynamic>(&mut Scope::new(), &self.ast, f, (pod, node))
            .map_err(|e| e.to_string())
    }
}

impl Plugin for RhaiPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
        if !self.has_filter {
            return Ok(());
        }
        match self.call("filter", pod, node) {
            Ok(v) if v.as_bool() == Ok(true) => Ok(()),
            Ok(v) if v.is_string() => {
                Err(Failure::unresolvable(v.into_string().unwrap_or_default()))
            }
            Ok(_) => Err(Failure::unresolvable(format!(
                "node(s) were rejected by plugin {}",
                self.name
            ))),
            Err(e) => {
                tracing::warn!(plugin = %self.name, error = %e, "filter plugin failed");
                Err(Failure::unresolvable(format!(
                    "plugin {} failed",
                    self.name
                )))
            }
        }
    }

    fn scores(&self) -> bool {
        self.has_score
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        match self.call("score", pod, node) {
            Ok(v) => v.as_int().unwrap_or(0),
            Err(e) => {
                tracing::warn!(plugin = %self.name, error = %e, "score plugin failed");
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod() -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default",
                "labels": {"team": "a"}}, "spec": {"containers": [{"name": "c"}]}}))
            .unwrap(),
        ))
    }

    fn node(name: &str) -> NodeInfo {
        let mut n = NodeInfo::empty(name);
        n.set_node(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"team": "a"}}}))
                .unwrap(),
        ));
        n
    }

    fn plugin(src: &str) -> RhaiPlugin {
        RhaiPlugin::compile("test", src, Path::new("test.rhai")).unwrap()
    }

    #[test]
    fn filters_accept_reject_and_give_reasons() {
        let p = plugin(
            r#"fn filter(pod, node) { if node.metadata.name == "bad" { "node(s) are bad" } else { node.metadata.labels.team == pod.metadata.labels.team } }"#,
        );
        assert!(p.filter(&pod(), &node("good")).is_ok());
        assert_eq!(
            p.filter(&pod(), &node("bad")).unwrap_err().reasons,
            vec!["node(s) are bad".to_string()]
        );
        let no = plugin("fn filter(pod, node) { false }");
        assert_eq!(
            no.filter(&pod(), &node("x")).unwrap_err().reasons,
            vec!["node(s) were rejected by plugin test".to_string()]
        );
    }

    #[test]
    fn runaway_scripts_are_stopped_by_the_operation_limit() {
        let p = plugin("fn filter(pod, node) { loop { } }");
        let err = p.filter(&pod(), &node("x")).unwrap_err();
        assert_eq!(err.reasons, vec!["plugin test failed".to_string()]);
        let s = plugin("fn score(pod, node) { node.metadata.name.len() * 10 }");
        assert!(s.scores());
        assert_eq!(s.score(&pod(), &node("abc")), 30);
    }

    #[test]
    fn scripts_without_hooks_or_with_syntax_errors_are_refused() {
        assert!(matches!(
            RhaiPlugin::compile("x", "let a = 1;", Path::new("x.rhai")),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            RhaiPlugin::compile("x", "fn filter(pod, node) {", Path::new("x.rhai")),
            Err(Error::Compile { .. })
        ));
    }
}
