//! `skiff-ingress`: routes HTTP(S) by Ingress rules to the pods behind Services.

fn main() {}
