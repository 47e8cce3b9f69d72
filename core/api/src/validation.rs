//! validation (to be written)
