//! Container images without a registry: one-layer OCI image layout archives, written here
//! and imported into the test node's containerd (`ctr -n k8s.io images import`), so no test
//! ever pulls an image.
//!
//! An archive is a tar of `oci-layout`, `index.json` (naming the image with the
//! `io.containerd.image.name` annotation) and `blobs/sha256/<digest>`: the manifest, the
//! config and one uncompressed layer tar.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// One entry of a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// An image: its name (`registry/repository:tag`), the entries of its one layer and the
/// process it starts by default.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub entries: Vec<Entry>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `uid:gid`, empty for root.
    pub user: String,
}

impl Image {
    /// The OCI image layout archive of this image.
    pub fn archive(&self) -> Vec<u8> {
        let layer = tar(&self.entries);
        let layer_digest = sha256(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": self.entrypoint,
                "Cmd": self.cmd,
                "User": self.user,
                "Env": ["PATH=/bin"],
                "WorkingDir": "/",
            },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        }))
        .expect("serializable");
        let config_digest = sha256(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))
        .expect("serializable");
        let manifest_digest = sha256(&manifest);
        let tag = self
            .name
            .rsplit_once(':')
            .map(|(_, t)| t)
            .unwrap_or("latest");
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "platform": { "architecture": "amd64", "os": "linux" },
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        }))
        .expect("serializable");
        let blob = |digest: &str, data: Vec<u8>| Entry::File {
            path: format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            mode: 0o644,
            data,
        };
        tar(&[
            Entry::File {
                path: "oci-layout".into(),
                mode: 0o644,
                data: br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            },
            Entry::Dir {
                path: "blobs".into(),
                mode: 0o755,
            },
            Entry::Dir {
                path: "blobs/sha256".into(),
                mode: 0o755,
            },
            blob(&layer_digest, layer),
            blob(&config_digest, config),
            blob(&manifest_digest, manifest),
            Entry::File {
                path: "index.json".into(),
                mode: 0o644,
                data: index,
            },
        ])
    }

    /// Writes [`Image::archive`] to `path`.
    pub fn write_archive(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        file.write_all(&self.archive())?;
        file.sync_all()
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A POSIX ustar archive of `entries`, owned by root, dated 0 (the same entries always
/// make the same bytes, so the same digests).
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (path, mode, kind, link, data): (&str, u32, u8, &str, &[u8]) = match entry {
            Entry::Dir { path, mode } => (path, *mode, b'5', "", &[]),
            Entry::File { path, mode, data } => (path, *mode, b'0', "", data),
            Entry::Symlink { path, target } => (path, 0o777, b'2', target, &[]),
        };
        let mut header = [0u8; 512];
        let name = if kind == b'5' {
            format!("{}/", path.trim_end_matches('/'))
        } else {
            path.to_owned()
        };
        assert!(name.len() < 100, "tar name too long: {name}");
        assert!(link.len() < 100, "tar link too long: {link}");
        header[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut header[100..108], mode as u64);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], data.len() as u64);
        octal(&mut header[136..148], 0);
        header[156] = kind;
        header[157..157 + link.len()].copy_from_slice(link.as_bytes());
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field as spaces.
        header[148..156].copy_from_slice(b"        ");
        let sum: u64 = header.iter().map(|b| *b as u64).sum();
        octal(&mut header[148..155], sum);
        header[155] = b' ';
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    // Two zero blocks end the archive.
    out.resize(out.len() + 1024, 0);
    out
}

/// `value` as zero-padded octal digits filling `field` but its last byte (NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    assert!(
        digits.len() < field.len(),
        "{value} does not fit the tar field"
    );
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

/// The directories every image has (runc mounts `/proc`, `/sys`, `/dev` and the kubelet
/// `/etc/hosts` and friends onto them).
fn base_dirs() -> Vec<Entry> {
    [
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
    ]
    .into_iter()
    .map(|(path, mode)| Entry::Dir {
        path: path.into(),
        mode,
    })
    .chain([Entry::Dir {
        path: "tmp".into(),
        mode: 0o1777,
    }])
    .collect()
}

/// busybox (a statically linked binary, Debian's `busybox-static`) as `/bin/busybox` with
/// a `/bin/<applet>` link for each of `applets`.
pub fn busybox_entries(binary: Vec<u8>, applets: &[String]) -> Vec<Entry> {
    let mut entries = base_dirs();
    entries.push(Entry::Dir {
        path: "bin".into(),
        mode: 0o755,
    });
    entries.push(Entry::File {
        path: "bin/busybox".into(),
        mode: 0o755,
        data: binary,
    });
    for applet in applets {
        if applet != "busybox" && !applet.contains('/') && !applet.is_empty() {
            entries.push(Entry::Symlink {
                path: format!("bin/{applet}"),
                target: "busybox".into(),
            });
        }
    }
    entries
}

/// The operator's static binary as `/hardening-operator`, like the Dockerfile's
/// distroless image.
pub fn operator_entries(binary: Vec<u8>) -> Vec<Entry> {
    let mut entries = base_dirs();
    entries.push(Entry::File {
        path: "hardening-operator".into(),
        mode: 0o755,
        data: binary,
    });
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_is_read_back_by_gnu_tar() {
        let dir = std::env::temp_dir().join(format!("oci-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join("a.tar");
        std::fs::write(
            &archive,
            tar(&[
                Entry::Dir {
                    path: "bin".into(),
                    mode: 0o755,
                },
                Entry::File {
                    path: "bin/x".into(),
                    mode: 0o755,
                    data: b"hello".to_vec(),
                },
                Entry::Symlink {
                    path: "bin/y".into(),
                    target: "x".into(),
                },
            ]),
        )
        .unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 3, "{listing}");
        assert!(
            lines[0].starts_with("drwxr-xr-x root/root") || lines[0].starts_with("drwxr-xr-x 0/0")
        );
        assert!(
            lines[1].contains(" 5 ") && lines[1].ends_with("bin/x"),
            "{listing}"
        );
        assert!(lines[2].ends_with("bin/y -> x"), "{listing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sha256_of_the_empty_input() {
        assert_eq!(
            sha256(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
