//! The container runtime seam: containerd and a simulated runtime (to be written).
