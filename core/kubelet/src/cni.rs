//! Running CNI plugins for pod sandboxes, as a CNI runtime (to be written).
