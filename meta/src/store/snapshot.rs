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
fn verify_checksum(path: &Path) -> std::io::Result<()> {
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

/// Reads every frame after the magic, calling `f` on each; checks that the
/// end frame sits exactly before the checksum.
fn frames(
    path: &Path,
    mut f: impl FnMut(Vec<u8>, Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let len = std::fs::metadata(path)?.len();
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a Meridian snapshot"));
    }
    let mut pos = MAGIC.len() as u64;
    let mut n = 0u64;
    loop {
        let mut word = [0u8; 4];
        r.read_exact(&mut word)?;
        pos += 4;
        let klen = u32::from_be_bytes(word);
        if klen == END {
            break;
        }
        r.read_exact(&mut word)?;
        pos += 4;
        let vlen = u32::from_be_bytes(word);
        if klen > MAX_FIELD
            || vlen > MAX_FIELD
            || pos + u64::from(klen) + u64::from(vlen) + 4 + 32 > len
        {
            return Err(bad("snapshot frame out of bounds"));
        }
        let mut k = vec![0u8; klen as usize];
        let mut v = vec![0u8; vlen as usize];
        r.read_exact(&mut k)?;
        r.read_exact(&mut v)?;
        pos += u64::from(klen) + u64::from(vlen);
        f(k, v)?;
        n += 1;
    }
    if pos + 32 != len {
        return Err(bad(
            "snapshot end frame is not followed by exactly the checksum",
        ));
    }
    Ok(n)
}

/// Checks the checksum and the frame structure, loading nothing.
pub fn verify(path: &Path) -> std::io::Result<()> {
    verify_checksum(path)?;
    frames(path, |_, _| Ok(()))?;
    Ok(())
}

/// Replaces the catalogue with the file's contents. The caller has verified
/// the file; the catalogue is cleared only now.
pub fn load(db: &DB, path: &Path) -> std::io::Result<u64> {
    let cf = cf(db, CF_CATALOGUE)?;
    let mut clear = WriteBatch::default();
    clear.delete_range_cf(cf, [0u8].as_slice(), [0xFFu8; 16].as_slice());
    db.write(clear).map_err(std::io::Error::other)?;
    let mut batch = WriteBatch::default();
    let n = frames(path, |k, v| {
        batch.put_cf(cf, k, v);
        if batch.len() >= LOAD_BATCH {
            db.write(std::mem::take(&mut batch))
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    })?;
    db.write(batch).map_err(std::io::Error::other)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_checksum(body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(blake3::hash(body).as_bytes());
        out
    }

    #[test]
    fn roundtrip_and_refusals() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = crate::store::open_db(&dir.path().join("db")).expect("db");
        let cat = cf(&db, CF_CATALOGUE).expect("cf");
        for i in 0..100u32 {
            db.put_cf(cat, format!("k{i:03}"), i.to_be_bytes())
                .expect("put");
        }
        let file = dir.path().join("s.snap");
        assert_eq!(write(&db, &db.snapshot(), &file).expect("write"), 100);
        verify(&file).expect("a good file verifies");

        let other = crate::store::open_db(&dir.path().join("db2")).expect("db2");
        let ocat = cf(&other, CF_CATALOGUE).expect("cf");
        other.put_cf(ocat, b"stale", b"x").expect("put");
        assert_eq!(load(&other, &file).expect("load"), 100);
        assert!(
            other.get_cf(ocat, b"stale").expect("get").is_none(),
            "load replaces, not merges"
        );
        assert_eq!(
            other.get_cf(ocat, b"k042").expect("get"),
            Some(42u32.to_be_bytes().to_vec())
        );

        let good = std::fs::read(&file).expect("read");
        let body = &good[..good.len() - 32];
        // A flipped byte fails the checksum.
        let mut flipped = good.clone();
        flipped[20] ^= 1;
        std::fs::write(&file, &flipped).expect("write");
        assert!(verify(&file).is_err());
        // A valid checksum over a body without its end frame fails the structure check.
        std::fs::write(&file, with_checksum(&body[..body.len() - 4])).expect("write");
        assert!(verify(&file).is_err());
        // A frame that claims more bytes than the file holds.
        let mut lying = MAGIC.to_vec();
        lying.extend_from_slice(&1u32.to_be_bytes());
        lying.extend_from_slice(&(MAX_FIELD - 1).to_be_bytes());
        lying.extend_from_slice(b"k");
        lying.extend_from_slice(&END.to_be_bytes());
        std::fs::write(&file, with_checksum(&lying)).expect("write");
        assert!(verify(&file).is_err());
        // Trailing bytes after the end frame.
        let mut trailing = body.to_vec();
        trailing.push(0);
        std::fs::write(&file, with_checksum(&trailing)).expect("write");
        assert!(verify(&file).is_err());
    }
}
