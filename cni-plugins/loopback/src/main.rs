//! CNI plugin: bring up the loopback interface in a pod's network namespace.

fn main() {}
