//! CNI IPAM plugin: allocate addresses from local ranges with on-disk state.

fn main() {}
