//! The chunked layout of a plain hosts key: hosts data of any size on an etcd with default
//! limits, where an edit writes, sends and rebuilds what it changes.
//!
//! The text is cut into chunks of whole lines (about [`CHUNK_LINES`] lines, at most
//! [`CHUNK_MAX_BYTES`]), each stored once under a key named by its SHA-256
//! (`KEY.chunks/<hex>`). A boundary falls after a line whose hash is a multiple of
//! `CHUNK_LINES`, so it depends only on that line: inserting, deleting or editing a line
//! changes the one chunk that holds it. The chunks are listed, in order, by indexes (blobs
//! in the same place, cut the same way over the chunk list), and the indexes by the
//! manifest, which is the hosts key's value. So a one-line edit writes one chunk, one index
//! and the manifest, whatever the size of the data.
//!
//! A value that does not start with [`MAGIC`] is a plain hosts file, as before: both layouts
//! are read by the plugin, and dnsctl converts between them. Blobs never change once
//! written; a manifest names only blobs written before it, so a reader at the manifest's
//! revision finds them all.

use std::fmt;
use std::hash::BuildHasher;

/// The manifest's first line, which is also what tells a plain `etcdctl get` user what
/// they are looking at.
pub const MAGIC: &str = "# etcdhosts chunked hosts data v1.";
const INDEX_MAGIC: &str = "# etcdhosts chunk index v1";

/// Lines per chunk on average: ~16 KiB of typical hosts lines, so a one-line edit sends
/// little, and 1M lines make ~4k chunks.
pub const CHUNK_LINES: u64 = 256;
/// A chunk also ends after this many bytes: far under etcd's 1.5 MiB request limit.
pub const CHUNK_MAX_BYTES: usize = 256 * 1024;
/// Chunks per index on average, and at most.
const INDEX_ENTRIES: u64 = 64;
const INDEX_MAX_ENTRIES: usize = 512;

/// A SHA-256 digest: the name of a blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }

    /// Its first 128 bits: the content hash the table's dataset compares chunks by.
    pub fn short(&self) -> u128 {
        u128::from_be_bytes(self.0[..16].try_into().unwrap())
    }

    pub fn parse(hex: &str) -> Option<Digest> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// One blob a manifest or an index lists: its digest, and the bytes and lines of the text
/// it stands for (for an index: of all its chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub digest: Digest,
    pub bytes: u64,
    pub lines: u64,
}

/// The hosts key's value in this layout: the indexes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub indexes: Vec<Entry>,
}

/// The keys of a hosts key's blobs and version records. A prefix key has no chunked
/// layout; a plain key `K` keeps its blobs under `K.chunks/` and its versions under
/// `K.versions/`, beside the key, so that a watch or read of `K` never sees them.
pub fn blob_prefix(key: &str) -> String {
    format!("{key}.chunks/")
}

pub fn blob_key(key: &str, digest: &Digest) -> String {
    format!("{key}.chunks/{digest}")
}

pub fn versions_prefix(key: &str) -> String {
    format!("{key}.versions/")
}

/// Is this value of a hosts key a manifest (else it is a plain hosts file)?
pub fn is_manifest(value: &[u8]) -> bool {
    value.starts_with(MAGIC.as_bytes())
}

impl Manifest {
    pub fn lines(&self) -> u64 {
        self.indexes.iter().map(|e| e.lines).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.indexes.iter().map(|e| e.bytes).sum()
    }

    /// The manifest as stored: the magic line (which names where the chunks are), the
    /// totals, then one `index DIGEST BYTES LINES` line per index.
    pub fn render(&self, key: &str) -> Vec<u8> {
        let mut out = format!(
            "{MAGIC} This key lists the indexes of the chunks under {}, which hold the hosts \
             file; `dnsctl dump` prints it, and putting a plain hosts file here leaves this \
             layout.\nlines {}\nbytes {}\n",
            blob_prefix(key),
            self.lines(),
            self.bytes()
        );
        for e in &self.indexes {
            out.push_str(&format!("index {} {} {}\n", e.digest, e.bytes, e.lines));
        }
        out.into_bytes()
    }

    pub fn parse(value: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(value).map_err(|_| "manifest is not UTF-8".to_string())?;
        let mut lines = text.lines();
        if !lines.next().is_some_and(|l| l.starts_with(MAGIC)) {
            return Err("not a chunked manifest".into());
        }
        let mut indexes = Vec::new();
        let (mut total_lines, mut total_bytes) = (None, None);
        for (n, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            let bad = || format!("manifest line {}: cannot read {line:?}", n + 2);
            match fields[..] {
                ["lines", v] => total_lines = Some(v.parse::<u64>().map_err(|_| bad())?),
                ["bytes", v] => total_bytes = Some(v.parse::<u64>().map_err(|_| bad())?),
                ["index", ..] => indexes.push(parse_entry(&fields).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        let manifest = Manifest { indexes };
        if total_lines != Some(manifest.lines()) || total_bytes != Some(manifest.bytes()) {
            return Err("manifest totals do not match its indexes".into());
        }
        Ok(manifest)
    }
}

fn parse_entry(fields: &[&str]) -> Option<Entry> {
    let [_, digest, bytes, lines] = fields else {
        return None;
    };
    Some(Entry {
        digest: Digest::parse(digest)?,
        bytes: bytes.parse().ok()?,
        lines: lines.parse().ok()?,
    })
}

/// An index as stored: a header line, then `chunk DIGEST BYTES LINES` per chunk.
pub fn render_index(chunks: &[Entry]) -> Vec<u8> {
    let mut out = format!("{INDEX_MAGIC}\n");
    for e in chunks {
        out.push_str(&format!("chunk {} {} {}\n", e.digest, e.bytes, e.lines));
    }
    out.into_bytes()
}

/// Reads an index blob, already checked against its digest.
pub fn parse_index(blob: &[u8]) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(blob).map_err(|_| "index is not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(INDEX_MAGIC) {
        return Err("not a chunk index".into());
    }
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.first() {
                Some(&"chunk") => parse_entry(&fields),
                _ => None,
            }
            .ok_or_else(|| format!("index: cannot read {line:?}"))
        })
        .collect()
}

/// A blob as read back: it must hash to the digest it is stored under.
pub fn check_blob(digest: &Digest, blob: &[u8]) -> Result<(), String> {
    if Digest::of(blob) == *digest {
        Ok(())
    } else {
        Err(format!(
            "chunk {digest} is corrupt: its content hashes to something else"
        ))
    }
}

/// Cuts `text` into chunks of whole lines: (lines, text), in order.
pub fn cut(text: &[u8]) -> Vec<(u64, &[u8])> {
    let hasher = foldhash::fast::FixedState::with_seed(0x6574_6364_686f_7374);
    let mut out = Vec::with_capacity(text.len() / 8192 + 1);
    let (mut start, mut lines, mut line_start) = (0, 0, 0);
    let ends = memchr::memchr_iter(b'\n', text).map(|i| i + 1);
    let last = (!text.ends_with(b"\n") && !text.is_empty()).then_some(text.len());
    for end in ends.chain(last) {
        let natural = hasher.hash_one(&text[line_start..end]) % CHUNK_LINES == 0;
        line_start = end;
        lines += 1;
        if natural || end - start >= CHUNK_MAX_BYTES || end == text.len() {
            out.push((lines, &text[start..end]));
            (start, lines) = (end, 0);
        }
    }
    out
}

/// Groups the chunk list into indexes: an index ends after a chunk whose digest is a
/// multiple of `INDEX_ENTRIES` (or at `INDEX_MAX_ENTRIES`), so that, as for chunks, a
/// changed chunk changes one index.
pub fn group(chunks: &[Entry]) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, e) in chunks.iter().enumerate() {
        let natural = u64::from_be_bytes(e.digest.0[..8].try_into().unwrap()) % INDEX_ENTRIES == 0;
        if natural || i + 1 - start >= INDEX_MAX_ENTRIES || i + 1 == chunks.len() {
            out.push(&chunks[start..=i]);
            start = i + 1;
        }
    }
    out
}

/// A text in the chunked layout: the manifest and every blob it needs (chunks and
/// indexes), by digest. A writer puts the blobs the store lacks, then the manifest.
pub struct Stored<'a> {
    pub manifest: Manifest,
    pub blobs: Vec<(Digest, std::borrow::Cow<'a, [u8]>)>,
}

/// Lays `text` out in chunks.
pub fn store(text: &[u8]) -> Stored<'_> {
    let mut blobs = Vec::new();
    let mut chunks = Vec::new();
    for (lines, piece) in cut(text) {
        let digest = Digest::of(piece);
        chunks.push(Entry {
            digest,
            bytes: piece.len() as u64,
            lines,
        });
        blobs.push((digest, std::borrow::Cow::Borrowed(piece)));
    }
    let mut indexes = Vec::new();
    for group in group(&chunks) {
        let blob = render_index(group);
        let digest = Digest::of(&blob);
        indexes.push(Entry {
            digest,
            bytes: group.iter().map(|e| e.bytes).sum(),
            lines: group.iter().map(|e| e.lines).sum(),
        });
        blobs.push((digest, std::borrow::Cow::Owned(blob)));
    }
    Stored {
        manifest: Manifest { indexes },
        blobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: usize) -> Vec<u8> {
        (0..lines)
            .map(|i| {
                format!(
                    "10.{}.{}.{} host{i}.example.org\n",
                    i >> 16,
                    (i >> 8) & 255,
                    i & 255
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn chunks_put_back_together_give_the_text_byte_for_byte() {
        for t in [
            Vec::new(),
            b"no newline".to_vec(),
            text(10_000),
            b"\n\n# c\n".to_vec(),
        ] {
            let stored = store(&t);
            let by_digest: std::collections::HashMap<_, _> = stored.blobs.iter().cloned().collect();
            let mut back = Vec::new();
            for index in &stored.manifest.indexes {
                for chunk in parse_index(&by_digest[&index.digest]).unwrap() {
                    check_blob(&chunk.digest, &by_digest[&chunk.digest]).unwrap();
                    back.extend_from_slice(&by_digest[&chunk.digest]);
                }
            }
            assert_eq!(back, t);
            assert_eq!(stored.manifest.bytes(), t.len() as u64);
        }
    }

    #[test]
    fn a_one_line_edit_changes_one_chunk_and_one_index() {
        let old = text(100_000);
        let mut new = old.clone();
        let at = new.len() / 2;
        let at = at + new[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
        new.splice(at..at, b"10.9.9.9 inserted.example.org\n".iter().copied());
        let (a, b) = (store(&old), store(&new));
        let old_blobs: std::collections::HashSet<_> = a.blobs.iter().map(|(d, _)| *d).collect();
        let added: Vec<_> = b
            .blobs
            .iter()
            .filter(|(d, _)| !old_blobs.contains(d))
            .collect();
        assert_eq!(added.len(), 2, "one chunk and one index are new");
        let chunks: usize = a.manifest.indexes.len();
        assert!(chunks > 2, "100k lines make several indexes, got {chunks}");
        let sent: usize =
            added.iter().map(|(_, b)| b.len()).sum::<usize>() + b.manifest.render("/k").len();
        assert!(sent < 64 * 1024, "a one-line edit writes {sent} bytes");
    }

    #[test]
    fn the_manifest_reads_back_and_refuses_damage() {
        let t = text(5000);
        let stored = store(&t);
        let value = stored.manifest.render("/etcdhosts");
        assert!(is_manifest(&value));
        assert!(!is_manifest(b"10.0.0.1 a\n"));
        assert_eq!(Manifest::parse(&value).unwrap(), stored.manifest);
        let damaged = String::from_utf8(value)
            .unwrap()
            .replace("lines 5000", "lines 4999");
        assert!(Manifest::parse(damaged.as_bytes()).is_err());
        let (digest, blob) = &stored.blobs[0];
        let mut corrupt = blob.to_vec();
        corrupt[0] ^= 1;
        assert!(check_blob(digest, &corrupt).is_err());
        assert_eq!(Digest::parse(&digest.to_string()), Some(*digest));
    }
}
