//! CNI IPAM plugin: allocate addresses from local ranges with on-disk state.

mod allocator;
mod config;
mod plugin;
mod range;
mod store;

fn main() -> std::process::ExitCode {
    skiff_cni_skel::run(&plugin::HostLocal)
}
