//! CNI plugin: bring up the loopback interface in a pod's network namespace.

mod plugin;

fn main() -> std::process::ExitCode {
    skiff_cni_skel::run(&plugin::Loopback)
}
