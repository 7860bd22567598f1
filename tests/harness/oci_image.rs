//! `hardening-oci-image`: the operator's container image as an OCI image layout archive,
//! without a Docker engine: the static binary of `tests/build-static.sh` alone, run as
//! 65532, as the Dockerfile's distroless image and the test node's image hold it
//! (`harness/oci.rs`). `release/release.sh` runs it.

use std::path::PathBuf;

const USAGE: &str = "Usage: hardening-oci-image --binary PATH --name REPOSITORY:TAG --output FILE

Writes the operator's image, the static binary PATH as /hardening-operator run as 65532:65532
(entrypoint /hardening-operator, command run), as a one-layer OCI image layout archive
(oci-layout, index.json, blobs/sha256/...) naming it REPOSITORY:TAG.";

fn main() {
    let mut binary = None;
    let mut name = None;
    let mut output = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("hardening-oci-image: {arg} needs a value\n{USAGE}");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--binary" => binary = Some(PathBuf::from(value())),
            "--name" => name = Some(value()),
            "--output" => output = Some(PathBuf::from(value())),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("hardening-oci-image: unknown argument {other}\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    let (Some(binary), Some(name), Some(output)) = (binary, name, output) else {
        eprintln!("{USAGE}");
        std::process::exit(2)
    };
    let mut image = hardening_tests::node::operator_image(&binary).unwrap_or_else(|e| {
        eprintln!("hardening-oci-image: {e}");
        std::process::exit(1)
    });
    image.name = name;
    if let Err(e) = image.write_archive(&output) {
        eprintln!("hardening-oci-image: writing {}: {e}", output.display());
        std::process::exit(1);
    }
}
