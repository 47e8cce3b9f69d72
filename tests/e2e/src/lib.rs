//! End-to-end tests of skiff live in `tests/`; this library is empty.
//!
//! They need root, containerd, runc, `ip`, the Debian CNI plugins and skiff's own plugins:
//! build those first (`cargo build -p skiff-bridge -p skiff-host-local -p skiff-loopback`)
//! or point `SKIFF_CNI_BIN_DIR` at a directory holding them.
