//! Generates the grpc-inventory example's code from `proto/inventory.proto` with protox (a
//! protobuf compiler in Rust), so a fresh clone builds with `cargo` alone: no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/inventory.proto");
    let descriptors = protox::compile(["proto/inventory.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
