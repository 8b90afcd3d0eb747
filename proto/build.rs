//! Compiles the `.proto` files with tonic/prost at build time, using the
//! vendored protoc so a fresh machine needs nothing installed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of intent: build scripts are single-threaded; prost-build reads PROTOC.
    std::env::set_var("PROTOC", protoc);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Bulk data as `Bytes`: a decoded frame shares the receive buffer and
    // an encoded one is a slice of the chunk read, instead of a copy each.
    let mut config = tonic_prost_build::configure();
    for field in [
        ".meridian.v1.PutRequest.data",
        ".meridian.v1.ObjectChunk.data",
        ".meridian.v1.UploadWriteRequest.data",
        ".meridian.v1.ChunkFrame.data",
    ] {
        config = config.bytes(field);
    }
    config
        .codec_path("crate::codec::SizedCodec")
        .file_descriptor_set_path(out.join("meridian_descriptor.bin"))
        .compile_protos(
            &[
                "meridian/v1/catalogue.proto",
                "meridian/v1/client.proto",
                "meridian/v1/datasets.proto",
                "meridian/v1/admin.proto",
                "meridian/v1/datanode.proto",
                "meridian/v1/raft.proto",
            ],
            &["."],
        )?;
    println!("cargo:rerun-if-changed=meridian");
    Ok(())
}
