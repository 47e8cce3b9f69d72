//! CSI driver: volumes as directories on the node.

fn main() {}
