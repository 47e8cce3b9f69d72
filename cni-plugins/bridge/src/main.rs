//! CNI plugin: attach a pod to a Linux bridge through a veth pair.

fn main() {}
