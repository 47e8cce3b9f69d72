//! CNI plugin: attach a pod to a Linux bridge through a veth pair.

mod config;
mod masq;
mod netlink;
mod plugin;

fn main() -> std::process::ExitCode {
    skiff_cni_skel::run(&plugin::Bridge)
}
