//! Snapshot files: the catalogue column family, framed, with a checksum.
//!
//! Layout: the magic `MRDNSNP1`, then frames of `u32 key length, u32 value
//! length, key, value` (big-endian lengths), then a frame whose key length is
//! `u32::MAX`, then the 32-byte BLAKE3 of everything before it. A file is
//! verified whole before any of it is loaded, so a torn or corrupt transfer
//! changes nothing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use rocksdb::{WriteBatch, DB};

use super::{cf, CF_CATALOGUE};

const MAGIC: &[u8; 8] = b"MRDNSNP1";
const END: u32 = u32::MAX;
/// Keys and values larger than this are not ours: refuse rather than allocate.
const MAX_FIELD: u32 = 64 * 1024 * 1024;
/// Entries per WriteBatch while loading, to bound memory.
const LOAD_BATCH: usize = 10_000;

struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the catalogue as seen by `snap` to `path` and fsyncs it.
/// Returns the number of entries.
pub fn write(db: &DB, snap: &rocksdb::Snapshot<'_>, path: &Path) -> std::io::Result<u64> {
    let cf = cf(db, CF_CATALOGUE)?;
    let file = File::create(path)?;
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
    };
    w.write_all(MAGIC)?;
    let mut opts = rocksdb::ReadOptions::default();
    opts.set_snapshot(snap);
    let mut it = db.raw_iterator_cf_opt(cf, opts);
    it.seek_to_first();
    let mut n = 0u64;
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        w.write_all(&(k.len() as u32).to_be_bytes())?;
        w.write_all(&(v.len() as u32).to_be_bytes())?;
        w.write_all(k)?;
        w.write_all(v)?;
        n += 1;
        it.next();
    }
    it.status().map_err(std::io::Error::other)?;
    w.write_all(&END.to_be_bytes())?;
    let sum = *w.hasher.finalize().as_bytes();
    let mut inner = w.inner;
    inner.write_all(&sum)?;
    inner.flush()?;
    inner.get_ref().sync_all()?;
    Ok(n)
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// Checks the file's checksum without loading it.
pub fn verify(path: &Path) -> std::io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    if len < (MAGIC.len() + 4 + 32) as u64 {
        return Err(bad("snapshot file too short"));
    }
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hasher = blake3::Hasher::new();
    let mut remaining = len - 32;
    let mut buf = vec![0u8; 1 << 20];
    while remaining > 0 {
        let want = remaining.min(buf.len() as u64) as usize;
        r.read_exact(&mut buf[..want])?;
        hasher.update(&buf[..want]);
        remaining -= want as u64;
    }
    let mut sum = [0u8; 32];
    r.read_exact(&mut sum)?;
    if hasher.finalize().as_bytes() != &sum {
        return Err(bad("snapshot checksum mismatch"));
    }
    Ok(())
}

/// Replaces the catalogue with the file's contents (verified first).
pub fn load(db: &DB, path: &Path) -> std::io::Result<u64> {
    verify(path)?;
    let cf = cf(db, CF_CATALOGUE)?;
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a Meridian snapshot"));
    }
    let mut clear = WriteBatch::default();
    clear.delete_range_cf(cf, [0u8].as_slice(), [0xFFu8; 16].as_slice());
    db.write(clear).map_err(std::io::Error::other)?;
    let mut batch = WriteBatch::default();
    let mut n = 0u64;
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let klen = u32::from_be_bytes(len);
        if klen == END {
            break;
        }
        r.read_exact(&mut len)?;
        let vlen = u32::from_be_bytes(len);
        if klen > MAX_FIELD || vlen > MAX_FIELD {
            return Err(bad("snapshot frame too large"));
        }
        let mut k = vec![0u8; klen as usize];
        let mut v = vec![0u8; vlen as usize];
        r.read_exact(&mut k)?;
        r.read_exact(&mut v)?;
        batch.put_cf(cf, k, v);
        n += 1;
        if batch.len() >= LOAD_BATCH {
            db.write(std::mem::take(&mut batch))
                .map_err(std::io::Error::other)?;
        }
    }
    db.write(batch).map_err(std::io::Error::other)?;
    Ok(n)
}
