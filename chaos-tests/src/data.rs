//! Test payloads: reproducible pseudo-random bytes and their digests.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use bytes::Bytes;
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// `len` bytes that depend only on `seed`; random so that no two payloads
/// share chunks (chunks dedupe by content) and compression cannot help.
pub fn random_bytes(seed: u64, len: usize) -> Bytes {
    let mut buf = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut buf);
    Bytes::from(buf)
}

/// A seed derived from a name, so that each key gets its own content.
pub fn seed_of(name: &str) -> u64 {
    let h = blake3::hash(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

pub fn blake3_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Writes `len` pseudo-random bytes to `path` without holding them in memory;
/// returns their BLAKE3.
pub fn write_random_file(path: &Path, seed: u64, len: u64) -> Result<String> {
    const BLOCK: usize = 1 << 20;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; BLOCK];
    let mut left = len;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        left -= n as u64;
    }
    out.flush()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

pub fn file_blake3(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// BLAKE3 of each `chunk_size` slice of `data`, as the server addresses chunks.
pub fn chunk_hashes(data: &[u8], chunk_size: usize) -> Vec<String> {
    data.chunks(chunk_size.max(1)).map(blake3_hex).collect()
}
