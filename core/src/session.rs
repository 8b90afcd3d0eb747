//! Upload sessions of the client API: a large object written as a grid of
//! fixed-size chunks that any number of streams fill in any order, each
//! chunk recorded in the catalogue the moment it is durable, so that a
//! writer cut off mid-way resumes from its last chunk instead of from zero.
//!
//! The object's BLAKE3 is made from the chunks' chaining values (the
//! interior nodes of the BLAKE3 tree) without reading the chunks again:
//! with a power-of-two chunk size, every chunk of the grid is a whole
//! subtree of the object's BLAKE3 tree, so merging the chunks' values in
//! the tree's own shape gives the hash `blake3::hash` of the whole object
//! would. Pure: no IO.

use blake3::hazmat::{left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, HasherExt};

use crate::records::PartRecord;
use crate::CoreError;

/// Chunks one session may hold: 256 GiB at the default 4 MiB chunk. The
/// committed record lists every chunk, and one Raft entry carries it.
pub const MAX_SESSION_CHUNKS: u64 = 65_536;

/// What a session declared when it began, and when it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The object's size in bytes, declared at the start.
    pub size: u64,
    /// The object's BLAKE3, declared at the start and checked at commit.
    pub blake3: [u8; 32],
    /// The grid: chunk `i` is bytes `[i * chunk_size, (i + 1) * chunk_size)`.
    pub chunk_size: u32,
    /// A session this long without a chunk recorded is aborted and its
    /// chunks reclaimed.
    pub idle_ms: i64,
    /// When the session began or last recorded a chunk (the recording
    /// command's time, so every replica of the catalogue agrees).
    pub touched_ms: i64,
}

impl UploadSession {
    /// A session for an object of `size` bytes hashing to `blake3`, cut at
    /// `chunk_size` (a power of two of at least 1 KiB: BLAKE3's chunk).
    pub fn new(
        size: u64,
        blake3: [u8; 32],
        chunk_size: u32,
        idle_ms: i64,
        now_ms: i64,
    ) -> Result<Self, CoreError> {
        let s = UploadSession {
            size,
            blake3,
            chunk_size,
            idle_ms,
            touched_ms: now_ms,
        };
        s.check().map_err(CoreError::InvalidArgument)?;
        Ok(s)
    }

    /// Whether the declaration is one a session can be: also what the
    /// catalogue checks of a stored or proposed session.
    pub fn check(&self) -> Result<(), String> {
        if !self.chunk_size.is_power_of_two() || (self.chunk_size as usize) < blake3::CHUNK_LEN {
            return Err(format!(
                "upload sessions need a power-of-two chunk size of at least {} bytes; this node's is {}",
                blake3::CHUNK_LEN,
                self.chunk_size
            ));
        }
        if self.chunk_count() > MAX_SESSION_CHUNKS {
            return Err(format!(
                "{} bytes is {} chunks of {}; a session holds at most {MAX_SESSION_CHUNKS}",
                self.size,
                self.chunk_count(),
                self.chunk_size
            ));
        }
        if self.idle_ms <= 0 {
            return Err(format!("idle time {} ms is not positive", self.idle_ms));
        }
        Ok(())
    }

    pub fn chunk_count(&self) -> u64 {
        self.size.div_ceil(u64::from(self.chunk_size.max(1)))
    }

    /// Where chunk `index` begins.
    pub fn chunk_offset(&self, index: u64) -> u64 {
        index.saturating_mul(u64::from(self.chunk_size))
    }

    /// Chunk `index`'s length; `None` past the end.
    pub fn chunk_len(&self, index: u64) -> Option<u32> {
        if index >= self.chunk_count() {
            return None;
        }
        let left = self.size - self.chunk_offset(index);
        Some(left.min(u64::from(self.chunk_size)) as u32)
    }

    /// The chunk a stream starting at `offset` writes first: `offset` must
    /// be on the grid and inside the object.
    pub fn chunk_at(&self, offset: u64) -> Result<u64, CoreError> {
        if !offset.is_multiple_of(u64::from(self.chunk_size)) {
            return Err(CoreError::InvalidArgument(format!(
                "offset {offset} is not on the session's {}-byte chunk grid",
                self.chunk_size
            )));
        }
        if offset >= self.size {
            return Err(CoreError::InvalidArgument(format!(
                "offset {offset} is at or past the end of the {}-byte object",
                self.size
            )));
        }
        Ok(offset / u64::from(self.chunk_size))
    }

    /// When the session expires if nothing more is written.
    pub fn expires_ms(&self) -> i64 {
        self.touched_ms.saturating_add(self.idle_ms)
    }

    /// Whether `part` is chunk `part_number - 1` of the grid as it should
    /// be: one chunk of the right length, with its chaining value.
    pub fn check_part(&self, part: &PartRecord) -> Result<(), String> {
        let index = u64::from(part.part_number).wrapping_sub(1);
        let Some(len) = self.chunk_len(index) else {
            return Err(format!(
                "chunk number {} is outside the session's 1..={}",
                part.part_number,
                self.chunk_count()
            ));
        };
        match part.chunks.as_slice() {
            [c] if c.size == len && part.size == u64::from(len) => {}
            _ => {
                return Err(format!(
                    "chunk number {} must be one chunk of {len} bytes",
                    part.part_number
                ))
            }
        }
        if part.chaining_value.is_none() {
            return Err(format!(
                "chunk number {} has no chaining value",
                part.part_number
            ));
        }
        Ok(())
    }

    /// The byte ranges `[start, end)` no recorded chunk covers yet, in
    /// order, adjacent chunks merged. `parts` may be in any order.
    pub fn missing(&self, parts: &[PartRecord]) -> Vec<(u64, u64)> {
        let mut have: Vec<u64> = parts
            .iter()
            .map(|p| u64::from(p.part_number).wrapping_sub(1))
            .filter(|i| *i < self.chunk_count())
            .collect();
        have.sort_unstable();
        have.dedup();
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut next = 0u64;
        let gap = |from: u64, to: u64, out: &mut Vec<(u64, u64)>| {
            if from < to {
                let (s, e) = (
                    self.chunk_offset(from),
                    self.chunk_offset(to).min(self.size),
                );
                match out.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ => out.push((s, e)),
                }
            }
        };
        for i in have {
            gap(next, i, &mut out);
            next = i + 1;
        }
        gap(next, self.chunk_count(), &mut out);
        out
    }
}

/// A chunk's BLAKE3 chaining value at `offset` in the object (a multiple
/// of BLAKE3's 1 KiB chunk): the interior node [`object_hash`] merges.
/// `data` is not empty.
pub fn chaining_value(data: &[u8], offset: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    if offset > 0 {
        h.set_input_offset(offset);
    }
    h.update(data);
    h.finalize_non_root()
}

/// The BLAKE3 of a whole object from its chunks in order (content hash,
/// chaining value), cut at `chunk_size` (a power of two of at least 1 KiB),
/// `size` bytes in all.
pub fn object_hash(chunk_size: u32, size: u64, chunks: &[([u8; 32], [u8; 32])]) -> [u8; 32] {
    match chunks {
        [] => *blake3::hash(b"").as_bytes(),
        // A one-chunk object's tree is its chunk's: the content hash.
        [(content, _)] => *content,
        _ => {
            let cvs: Vec<[u8; 32]> = chunks.iter().map(|(_, cv)| *cv).collect();
            let (l, r) = split(chunk_size, size, &cvs);
            *merge_subtrees_root(&l, &r, blake3::hazmat::Mode::Hash).as_bytes()
        }
    }
}

/// The chaining values of the left and right subtrees of `len` bytes whose
/// chunks' values are `cvs` (at least two).
fn split(chunk_size: u32, len: u64, cvs: &[[u8; 32]]) -> ([u8; 32], [u8; 32]) {
    let left_len = left_subtree_len(len);
    let left_n = (left_len / u64::from(chunk_size)) as usize;
    (
        subtree(chunk_size, left_len, &cvs[..left_n]),
        subtree(chunk_size, len - left_len, &cvs[left_n..]),
    )
}

fn subtree(chunk_size: u32, len: u64, cvs: &[[u8; 32]]) -> [u8; 32] {
    if let [one] = cvs {
        return *one;
    }
    let (l, r) = split(chunk_size, len, cvs);
    merge_subtrees_non_root(&l, &r, blake3::hazmat::Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ChunkRef;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn by_chunks(data: &[u8], chunk: usize) -> Vec<([u8; 32], [u8; 32])> {
        data.chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                (
                    *blake3::hash(c).as_bytes(),
                    chaining_value(c, (i * chunk) as u64),
                )
            })
            .collect()
    }

    #[test]
    fn the_object_hash_from_chunk_values_is_blake3_of_the_whole() {
        for chunk in [1024usize, 4096, 65536] {
            for n in [
                0,
                1,
                chunk - 1,
                chunk,
                chunk + 1,
                2 * chunk,
                3 * chunk + 5,
                5 * chunk,
                7 * chunk + 1023,
                8 * chunk,
                13 * chunk + 1,
                33 * chunk - 1,
            ] {
                let data = bytes(n);
                let got = object_hash(chunk as u32, n as u64, &by_chunks(&data, chunk));
                assert_eq!(
                    got,
                    *blake3::hash(&data).as_bytes(),
                    "{n} bytes in {chunk}-byte chunks"
                );
            }
        }
    }

    #[test]
    fn a_chunk_written_again_with_other_bytes_changes_the_object_hash() {
        let chunk = 1024;
        let data = bytes(5 * chunk);
        let mut parts = by_chunks(&data, chunk);
        let mut other = data[2 * chunk..3 * chunk].to_vec();
        other[10] ^= 1;
        parts[2] = (
            *blake3::hash(&other).as_bytes(),
            chaining_value(&other, (2 * chunk) as u64),
        );
        assert_ne!(
            object_hash(chunk as u32, data.len() as u64, &parts),
            *blake3::hash(&data).as_bytes()
        );
    }

    #[test]
    fn a_session_refuses_a_grid_blake3_cannot_merge_or_a_size_too_large() {
        let ok = UploadSession::new(10, [0; 32], 4 << 20, 1000, 0);
        assert!(ok.is_ok());
        for bad in [
            UploadSession::new(10, [0; 32], 3 << 20, 1000, 0),
            UploadSession::new(10, [0; 32], 512, 1000, 0),
            UploadSession::new((MAX_SESSION_CHUNKS + 1) * 1024, [0; 32], 1024, 1000, 0),
            UploadSession::new(10, [0; 32], 1024, 0, 0),
        ] {
            assert!(matches!(bad, Err(CoreError::InvalidArgument(_))), "{bad:?}");
        }
    }

    fn part(number: u32, size: u32, cv: bool) -> PartRecord {
        PartRecord {
            part_number: number,
            size: u64::from(size),
            chunks: vec![ChunkRef {
                hash: [number as u8; 32],
                size,
            }],
            chaining_value: cv.then_some([1; 32]),
            ..Default::default()
        }
    }

    #[test]
    fn the_grid_places_offsets_and_parts() {
        let s = UploadSession::new(2500, [0; 32], 1024, 1000, 5).expect("session");
        assert_eq!(s.chunk_count(), 3);
        assert_eq!(s.chunk_len(2), Some(452));
        assert_eq!(s.chunk_len(3), None);
        assert_eq!(s.chunk_at(2048).ok(), Some(2));
        assert!(s.chunk_at(100).is_err(), "off the grid");
        assert!(s.chunk_at(3072).is_err(), "past the end");
        assert!(s.check_part(&part(1, 1024, true)).is_ok());
        assert!(s.check_part(&part(3, 452, true)).is_ok());
        assert!(s.check_part(&part(3, 1024, true)).is_err(), "last is short");
        assert!(s.check_part(&part(0, 1024, true)).is_err());
        assert!(s.check_part(&part(4, 1024, true)).is_err());
        assert!(s.check_part(&part(1, 1024, false)).is_err());
        assert_eq!(s.expires_ms(), 1005);
    }

    #[test]
    fn missing_ranges_merge_neighbours_and_end_at_the_size() {
        let s = UploadSession::new(5000, [0; 32], 1024, 1000, 0).expect("session");
        assert_eq!(s.missing(&[]), vec![(0, 5000)]);
        let have = [part(2, 1024, true), part(5, 904, true)];
        assert_eq!(s.missing(&have), vec![(0, 1024), (2048, 4096)]);
        let all: Vec<_> = (1..=4)
            .map(|i| part(i, 1024, true))
            .chain([part(5, 904, true)])
            .collect();
        assert!(s.missing(&all).is_empty());
    }
}
