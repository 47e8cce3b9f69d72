//! The skiff API server (to be written).
