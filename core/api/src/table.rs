//! table (to be written)
