//! Builds small OCI images from the host's static busybox (Debian's `busybox-static`), so
//! tests everywhere run real containers without downloading anything.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::archive::{descriptor, host_architecture};
use super::{
    Blob, Error, ImageContent, OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST, normalize,
};

/// Where `busybox-static` installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets linked into the image's `/bin`.
pub const APPLETS: &[&str] = &[
    "sh",
    "ash",
    "httpd",
    "sleep",
    "wget",
    "nc",
    "cat",
    "echo",
    "ls",
    "ping",
    "nslookup",
    "true",
    "false",
    "env",
    "head",
    "tail",
    "dd",
    "mkdir",
    "rm",
    "hostname",
    "ip",
    "ifconfig",
    "ps",
    "kill",
    "grep",
    "sed",
    "awk",
    "seq",
    "touch",
    "date",
    "id",
    "stat",
    "wc",
    "tr",
    "printf",
    "test",
    "yes",
    "timeout",
    "base64",
    "mount",
    "df",
    "du",
    "cp",
    "mv",
    "ln",
    "chmod",
    "sync",
    "uname",
    "whoami",
    "xargs",
    "sort",
    "uniq",
    "cut",
    "tee",
    "vi",
    "top",
    "free",
    "netstat",
    "route",
    "arp",
    "traceroute",
    "telnet",
    "dmesg",
    "find",
    "basename",
    "dirname",
    "expr",
    "md5sum",
    "sha256sum",
    "nohup",
    "usleep",
    "pwd",
];

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The busybox image as content (manifest, config, one layer), named `name`.
pub fn busybox_content(name: &str) -> Result<ImageContent, Error> {
    let busybox = std::fs::read(BUSYBOX).map_err(|source| Error::ArchiveIo {
        path: BUSYBOX.into(),
        source,
    })?;
    let layer = Blob::new(OCI_LAYER_TAR, layer_tar(&busybox).map_err(Error::Io)?);
    let config = json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": { "Env": [PATH_ENV], "Cmd": ["sh"], "WorkingDir": "/" },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
        "history": [{ "created_by": "skiff testimage busybox" }],
    });
    let config = Blob::new(OCI_CONFIG, to_vec(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(&config),
        "layers": [descriptor(&layer)],
    });
    Ok(ImageContent {
        name: normalize(name)?,
        manifest: Blob::new(OCI_MANIFEST, to_vec(&manifest)),
        config,
        layers: vec![layer],
    })
}

/// Writes the busybox image as an OCI layout tarball and returns its path. `out` is the
/// tarball's path, or a directory to write `<name>.tar` into.
pub fn busybox(name: &str, out: &Path) -> Result<PathBuf, Error> {
    let image = busybox_content(name)?;
    let path = if out.is_dir() {
        out.join(format!("{}.tar", name.replace(['/', ':'], "_")))
    } else {
        out.to_path_buf()
    };
    write_layout(&image, name, &path).map_err(Error::Io)?;
    Ok(path)
}

/// Writes an image as an OCI layout tarball whose index names it (`ref.name` as given,
/// containerd's `io.containerd.image.name` normalized).
pub fn write_layout(image: &ImageContent, ref_name: &str, path: &Path) -> std::io::Result<()> {
    let mut manifest_desc = descriptor(&image.manifest);
    manifest_desc["annotations"] = json!({
        "org.opencontainers.image.ref.name": ref_name,
        "io.containerd.image.name": image.name,
    });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [manifest_desc],
    });
    let mut tar = tar::Builder::new(std::fs::File::create(path)?);
    append_file(
        &mut tar,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        0o644,
    )?;
    append_file(&mut tar, "index.json", &to_vec(&index), 0o644)?;
    append_dir(&mut tar, "blobs", 0o755)?;
    append_dir(&mut tar, "blobs/sha256", 0o755)?;
    for blob in [&image.manifest, &image.config]
        .into_iter()
        .chain(image.layers.iter())
    {
        let hex = blob.digest.trim_start_matches("sha256:");
        append_file(&mut tar, &format!("blobs/sha256/{hex}"), &blob.data, 0o644)?;
    }
    tar.into_inner()?.sync_all()
}

/// The root filesystem: `/bin/busybox`, applet symlinks and the usual empty directories.
fn layer_tar(busybox: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("proc", 0o755),
        ("root", 0o700),
        ("sys", 0o755),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("var", 0o755),
        ("var/www", 0o755),
    ] {
        append_dir(&mut tar, dir, mode)?;
    }
    append_file(&mut tar, "bin/busybox", busybox, 0o755)?;
    append_file(
        &mut tar,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
    )?;
    append_file(
        &mut tar,
        "etc/group",
        b"root:x:0:\nnogroup:x:65534:\n",
        0o644,
    )?;
    for applet in APPLETS {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        header.set_mtime(0);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    tar.into_inner()
}

fn append_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    header.set_mtime(0);
    tar.append_data(&mut header, path, data)
}

fn append_dir<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(mode);
    header.set_size(0);
    header.set_mtime(0);
    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
}

fn to_vec(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_layout_reads_back_with_its_name_and_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = busybox("skiff.test/busybox:1", dir.path()).unwrap();
        let images = super::super::archive::read(&path).unwrap();
        assert_eq!(images.len(), 1);
        let image = &images[0];
        assert_eq!(image.name, "skiff.test/busybox:1");
        assert_eq!(image.layers.len(), 1);
        for blob in [&image.manifest, &image.config, &image.layers[0]] {
            assert_eq!(super::super::sha256_digest(&blob.data), blob.digest);
        }
        let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], image.layers[0].digest);
        assert_eq!(config["config"]["Cmd"][0], "sh");
    }

    #[test]
    fn the_layer_holds_busybox_and_its_applets() {
        let image = busybox_content("busybox").unwrap();
        let mut archive = tar::Archive::new(&image.layers[0].data[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in ["bin/busybox", "bin/sh", "bin/httpd", "bin/wget", "tmp/"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
    }
}
