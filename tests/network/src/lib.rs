//! Helpers for the network tests: an API server, network namespaces on a bridge, tiny servers.
