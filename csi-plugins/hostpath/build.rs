//! Generates the CSI v1 gRPC types, clients and servers from `proto/csi.proto`.
//!
//! The proto is parsed by `protox` (pure Rust, with the well-known Google types built in), so
//! building the driver needs no `protoc` or protobuf include files on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/csi.proto");
    let descriptors = protox::compile(["csi.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
