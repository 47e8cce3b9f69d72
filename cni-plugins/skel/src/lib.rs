//! Shared CNI plugin skeleton: the CNI_* environment, stdin config, result and error protocol.
