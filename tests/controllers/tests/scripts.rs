//! Every built-in controller compiles in the sandbox and declares a valid configuration.

use std::collections::BTreeSet;

use skiff_controller_tests::cluster::builtin_dir;
use skiff_runtime::Controller;
use skiff_runtime::rhai::{Limits, RhaiController};

#[test]
fn every_builtin_controller_loads_with_a_unique_name() {
    let mut names = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(builtin_dir())
        .expect("builtin-controllers is readable")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    for path in &files {
        let controller = RhaiController::load(path, &Limits::default())
            .unwrap_or_else(|error| panic!("{} does not load: {error}", path.display()));
        let name = controller.config().name.clone();
        assert_eq!(
            Some(name.as_str()),
            path.file_stem().and_then(|s| s.to_str()),
            "a controller is named after its file"
        );
        assert!(
            names.insert(name),
            "duplicate controller name in {}",
            path.display()
        );
    }
    let expected = [
        "cronjob",
        "daemonset",
        "deployment",
        "endpoints",
        "endpointslice",
        "garbage-collector",
        "job",
        "namespace",
        "node-lifecycle",
        "replicaset",
        "serviceaccount",
        "statefulset",
    ];
    for name in expected {
        assert!(names.contains(name), "missing built-in controller {name}");
    }
}
