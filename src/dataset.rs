//! The hosts data as an ordered list of sources, so that a change costs what it changes.
//!
//! Each text (the hosts key's value, each fragment under a prefix, the inline lines) is cut
//! into chunks: runs of whole lines that end after a line whose hash is a multiple of
//! [`CHUNK_LINES`]. A boundary depends only on its own line, so inserting, deleting or
//! editing a line changes the one chunk that holds it and no other. Each chunk is one
//! source of the table, numbered, ranked by its place in the data (texts in key order, the
//! inline lines last). A new value of a text is cut again and compared with the old one
//! chunk by chunk (by a 128-bit hash of the content): only the chunks that differ are
//! parsed and put in, and only the ones that went away are taken out. No text is kept.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use crate::hosts::Diagnostic;
use crate::table::{Footprint, Parsed, Records, Src, Table, TableOptions, KEEP_DIAGNOSTICS};

/// Lines per chunk on average. Small enough that a one-line change parses a few kilobytes,
/// big enough that the per-chunk bookkeeping (~60 bytes) is under a byte a line.
const CHUNK_LINES: u64 = 64;
/// A chunk also ends after this many bytes, so a text without natural boundaries (one
/// line repeated) still gets chunks.
const CHUNK_MAX_BYTES: usize = 64 * 1024;

/// One run of lines of a text.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    hash: u128,
    src: Src,
    lines: u32,
}

/// What is kept of a source once it is in the table.
struct SourceInfo {
    footprint: Footprint,
    invalid_lines: usize,
}

/// The sources behind the table being served, and how to change them.
pub struct Dataset {
    /// Chunks of each text, by its key (an etcd key, the snapshot's path), in key order.
    texts: BTreeMap<Vec<u8>, Vec<Chunk>>,
    /// Chunks of the inline lines: ranked after every text.
    inline: Vec<Chunk>,
    /// The inline lines (a few, from the Corefile), parsed again when the table is built
    /// afresh.
    inline_text: Vec<u8>,
    sources: HashMap<Src, SourceInfo>,
    next_src: Src,
    invalid_lines: usize,
    table: Arc<Table>,
}

/// A text's new value, or None when its key was deleted.
pub type TextChange<'a> = (&'a [u8], Option<&'a [u8]>);

/// A text's new value, whole or already cut, or None when its key was deleted.
pub type ValueChange<'a> = (&'a [u8], Option<Value<'a>>);

/// A new value of a text.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// The whole text, cut here.
    Text(&'a [u8]),
    /// The text as pieces cut elsewhere (the chunked layout, by content too), in order.
    /// A piece's text may be left out unless [`Dataset::needed`] names it.
    Pieces(&'a [Piece<'a>]),
}

/// One run of whole lines of a text: a hash of its content, its lines, and its text.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub hash: u128,
    pub lines: u32,
    pub text: Option<&'a [u8]>,
}

/// A piece of text to parse: its source number (a new one, or that of the old chunk it
/// takes the place of), where it came from, and its first line.
struct NewChunk<'a> {
    src: Src,
    replaces: bool,
    key: &'a [u8],
    text: &'a [u8],
    first_line: usize,
}

impl Dataset {
    /// The data with only the inline lines.
    pub fn new(options: TableOptions, inline: &[u8]) -> Dataset {
        let empty = Table::empty(options, foldhash::fast::RandomState::default());
        let mut dataset = Dataset {
            texts: BTreeMap::new(),
            inline: Vec::new(),
            inline_text: inline.to_vec(),
            sources: HashMap::new(),
            next_src: 0,
            invalid_lines: 0,
            table: Arc::new(empty),
        };
        let mut fresh = Vec::new();
        dataset.inline = dataset.cut(b"inline", pieces(inline), &[], &mut fresh);
        dataset.apply(Vec::new(), fresh, 0, true);
        dataset
    }

    /// The table being served.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Applies new values of some texts (`complete`: these are all the texts there are; any
    /// other is gone), and returns the new table.
    pub fn update(
        &mut self,
        changes: &[TextChange<'_>],
        complete: bool,
        revision: i64,
    ) -> Arc<Table> {
        let values: Vec<ValueChange<'_>> = changes
            .iter()
            .map(|&(key, value)| (key, value.map(Value::Text)))
            .collect();
        self.update_values(&values, complete, revision)
    }

    /// Which of a text's new pieces must come with their text: those that are not, in
    /// the same place, already in the table (see [`Value::Pieces`]).
    pub fn needed(&self, key: &[u8], new: &[(u128, u32)]) -> Range<usize> {
        let old = self.texts.get(key).map_or(&[][..], Vec::as_slice);
        let (prefix, suffix) = matched(old, new);
        prefix..new.len() - suffix
    }

    /// Like [`update`](Self::update), for texts given whole or already cut.
    pub fn update_values(
        &mut self,
        changes: &[ValueChange<'_>],
        complete: bool,
        revision: i64,
    ) -> Arc<Table> {
        let mut gone: Vec<Src> = Vec::new();
        let mut fresh: Vec<NewChunk<'_>> = Vec::new();
        // The first data (from etcd or the snapshot) is built at once, with the inline lines.
        let first = self.texts.values().all(Vec::is_empty);
        if complete {
            let keep: Vec<&[u8]> = changes.iter().map(|(k, _)| *k).collect();
            let dropped: Vec<Vec<u8>> = self
                .texts
                .keys()
                .filter(|k| !keep.contains(&k.as_slice()))
                .cloned()
                .collect();
            for key in dropped {
                gone.extend(self.texts.remove(&key).unwrap().iter().map(|c| c.src));
            }
        }
        for (key, value) in changes {
            let key = *key;
            let old = self.texts.remove(key).unwrap_or_default();
            let Some(value) = value else {
                gone.extend(old.iter().map(|c| c.src));
                continue;
            };
            let pieces = match value {
                Value::Text(text) => pieces(text),
                Value::Pieces(pieces) => pieces.to_vec(),
            };
            let new = self.cut(key, pieces, &old, &mut fresh);
            let kept: std::collections::HashSet<Src> = new.iter().map(|c| c.src).collect();
            gone.extend(old.iter().map(|c| c.src).filter(|s| !kept.contains(s)));
            self.texts.insert(key.to_vec(), new);
        }
        if first && !fresh.is_empty() {
            let inline_text = std::mem::take(&mut self.inline_text);
            let mut line = 1;
            for ((_, lines, piece), chunk) in chunks(&inline_text).into_iter().zip(&self.inline) {
                fresh.push(NewChunk {
                    src: chunk.src,
                    replaces: false,
                    key: b"inline",
                    text: piece,
                    first_line: line,
                });
                line += lines as usize;
            }
            let table = self.apply(gone, fresh, revision, true);
            self.inline_text = inline_text;
            return table;
        }
        self.apply(gone, fresh, revision, false)
    }

    /// Takes the new `pieces` of a text, keeping the source numbers of `old`'s chunks where
    /// the content is the same (same hash, same place relative to the change), and adds the
    /// others to `fresh`. A changed chunk takes the number of the old one in its place, so
    /// that the table only changes where their records differ.
    fn cut<'a>(
        &mut self,
        key: &'a [u8],
        pieces: Vec<Piece<'a>>,
        old: &[Chunk],
        fresh: &mut Vec<NewChunk<'a>>,
    ) -> Vec<Chunk> {
        let hashes: Vec<(u128, u32)> = pieces.iter().map(|p| (p.hash, p.lines)).collect();
        let (prefix, suffix) = matched(old, &hashes);
        let mut out = Vec::with_capacity(pieces.len());
        let mut line = 1;
        for (i, piece) in pieces.iter().enumerate() {
            let src = if i < prefix {
                old[i].src
            } else if i >= pieces.len() - suffix {
                old[old.len() - (pieces.len() - i)].src
            } else {
                let (src, replaces) = if i < old.len() - suffix {
                    (old[i].src, true)
                } else {
                    self.next_src += 1;
                    (self.next_src - 1, false)
                };
                fresh.push(NewChunk {
                    src,
                    replaces,
                    key,
                    text: piece
                        .text
                        .expect("the text of every piece `Dataset::needed` names"),
                    first_line: line,
                });
                src
            };
            out.push(Chunk {
                hash: piece.hash,
                src,
                lines: piece.lines,
            });
            line += piece.lines as usize;
        }
        out
    }

    /// Every source's rank: texts in key order, then the inline lines.
    fn rank(&self) -> Vec<u32> {
        let mut rank = vec![u32::MAX; self.next_src as usize];
        let all = self.texts.values().flatten().chain(&self.inline);
        for (i, chunk) in all.enumerate() {
            rank[chunk.src as usize] = i as u32;
        }
        rank
    }

    /// Puts the `fresh` chunks in and takes the `gone` ones out; with `afresh`, builds the
    /// table from the fresh chunks alone.
    fn apply(
        &mut self,
        gone: Vec<Src>,
        mut fresh: Vec<NewChunk<'_>>,
        revision: i64,
        afresh: bool,
    ) -> Arc<Table> {
        let rank = self.rank();
        let rank = |src: Src| rank[src as usize];
        fresh.sort_by_key(|c| rank(c.src));
        let zones = self.table.options().zones.clone();
        let parsed: Vec<(Src, &[u8], Parsed)> = fresh
            .iter()
            .map(|c| {
                let parsed = Parsed::new(c.text, &zones, c.first_line, KEEP_DIAGNOSTICS);
                (c.src, c.key, parsed)
            })
            .collect();
        let removed: Vec<(Src, SourceInfo)> = gone
            .iter()
            .filter_map(|s| self.sources.remove(s).map(|info| (*s, info)))
            .collect();
        let replaced: HashMap<Src, SourceInfo> = fresh
            .iter()
            .filter(|c| c.replaces)
            .filter_map(|c| self.sources.remove(&c.src).map(|info| (c.src, info)))
            .collect();
        let footprints: Vec<(Src, &Footprint)> =
            removed.iter().map(|(s, i)| (*s, &i.footprint)).collect();
        let added: Vec<(Src, Option<&Footprint>, &Records)> = parsed
            .iter()
            .map(|(s, _, p)| (*s, replaced.get(s).map(|i| &i.footprint), &p.records))
            .collect();
        for info in removed.iter().map(|(_, i)| i).chain(replaced.values()) {
            self.invalid_lines -= info.invalid_lines;
        }
        let (mut table, new_footprints) = if afresh {
            self.sources.clear();
            self.invalid_lines = 0;
            let sources: Vec<(Src, &Records)> =
                parsed.iter().map(|(s, _, p)| (*s, &p.records)).collect();
            self.table.built(&sources)
        } else {
            self.table.change(&rank, &footprints, &added)
        };
        let mut diagnostics: Vec<(String, Diagnostic)> = Vec::new();
        for ((src, key, parsed), footprint) in parsed.into_iter().zip(new_footprints) {
            self.invalid_lines += parsed.invalid_lines;
            let source = String::from_utf8_lossy(key);
            diagnostics.extend(
                parsed
                    .diagnostics
                    .into_iter()
                    .map(|d| (source.clone().into_owned(), d)),
            );
            self.sources.insert(
                src,
                SourceInfo {
                    footprint,
                    invalid_lines: parsed.invalid_lines,
                },
            );
        }
        diagnostics.truncate(KEEP_DIAGNOSTICS);
        table.set_report(revision, self.invalid_lines, diagnostics);
        self.table = Arc::new(table);
        self.table.clone()
    }
}

/// Cuts `text` into pieces.
fn pieces(text: &[u8]) -> Vec<Piece<'_>> {
    chunks(text)
        .into_iter()
        .map(|(hash, lines, text)| Piece {
            hash,
            lines,
            text: Some(text),
        })
        .collect()
}

/// How many chunks at the start and at the end of `old` and `new` are the same.
fn matched(old: &[Chunk], new: &[(u128, u32)]) -> (usize, usize) {
    let same = |a: &Chunk, b: &(u128, u32)| a.hash == b.0 && a.lines == b.1;
    let prefix = old.iter().zip(new).take_while(|(a, b)| same(a, b)).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| same(a, b))
        .count();
    (prefix, suffix)
}

/// Cuts `text` into chunks: (content hash, lines, text), in order.
///
/// The content hash is 128 bits: a hash of the chunk's bytes, and a second one folded from
/// the hashes of its lines (already computed to find the boundaries), so that a changed
/// chunk is never taken for the old one, at the cost of one pass over the text.
fn chunks(text: &[u8]) -> Vec<(u128, u32, &[u8])> {
    let line_hasher = foldhash::fast::FixedState::with_seed(0x6574_6364);
    let bytes_hasher = foldhash::quality::FixedState::with_seed(1);
    let mut out = Vec::with_capacity(text.len() / 2048 + 1);
    let (mut start, mut lines, mut folded) = (0, 0u32, 0u64);
    let ends = memchr::memchr_iter(b'\n', text).map(|i| i + 1);
    let last = (!text.ends_with(b"\n") && !text.is_empty()).then_some(text.len());
    let mut line_start = 0;
    for end in ends.chain(last) {
        let line_hash = line_hasher.hash_one(&text[line_start..end]);
        line_start = end;
        lines += 1;
        folded = (folded ^ line_hash)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(23);
        let natural = line_hash % CHUNK_LINES == 0;
        if natural || end - start >= CHUNK_MAX_BYTES || end == text.len() {
            let piece = &text[start..end];
            let hash = (u128::from(bytes_hasher.hash_one(piece)) << 64) | u128::from(folded);
            out.push((hash, lines, piece));
            (start, lines, folded) = (end, 0, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests;
