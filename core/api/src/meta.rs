//! meta (to be written)
