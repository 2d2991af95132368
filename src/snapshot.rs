//! The snapshot file (`snapshot PATH`): the hosts data last served from etcd, kept on local
//! disk so that an instance started while etcd is down serves it until etcd answers. The
//! file is itself a hosts file, with the revision in its first line.

use std::io::Write;
use std::path::Path;

const HEADER: &str = "# etcdhosts snapshot, revision ";

/// The snapshot's revision and text; None when there is no file (or it cannot be read,
/// which is logged).
pub(crate) fn load(path: &Path) -> Option<(i64, Vec<u8>)> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("cannot read snapshot {}: {e}", path.display());
            return None;
        }
    };
    let revision = text
        .strip_prefix(HEADER.as_bytes())
        .and_then(|rest| rest.split(|b| !b.is_ascii_digit()).next())
        .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok())
        .unwrap_or(0);
    Some((revision, text))
}

/// Writes the hosts data being served to `path` atomically (temp file, fsync, rename), so a
/// crash mid-write never leaves a torn snapshot.
pub(crate) fn write(path: &Path, revision: i64, parts: &[&[u8]]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{HEADER}{revision}")?;
    for part in parts {
        file.write_all(part)?;
        if !part.ends_with(b"\n") {
            file.write_all(b"\n")?;
        }
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.snap");
        assert_eq!(load(&path), None);
        write(&path, 42, &[b"10.0.0.1 a", b"10.0.0.2 b\n"]).unwrap();
        let (revision, text) = load(&path).unwrap();
        assert_eq!(revision, 42);
        assert_eq!(
            text,
            b"# etcdhosts snapshot, revision 42\n10.0.0.1 a\n10.0.0.2 b\n"
        );
        std::fs::write(&path, "10.0.0.3 c\n").unwrap();
        assert_eq!(load(&path).unwrap().0, 0, "no header: revision 0");
    }
}
