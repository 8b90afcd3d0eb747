//! Snapshot files, built from a RocksDB checkpoint and installed by SST
//! ingestion.
//!
//! Building: a checkpoint (hard links to the live SST files, after a flush:
//! consistent across column families, cheap, and independent of the live
//! database from then on, so a long build pins nothing there) is opened
//! read-only; its catalogue and search column families are written out as
//! sorted, non-overlapping SST files of at most [`PART_BYTES`] each, which
//! are packed into one file. Openraft sends that file to a peer in chunks
//! of `snapshot_max_chunk_size` bytes.
//!
//! Layout: the magic `MRDNSNP3`, then parts of `u8 family, u64 length, SST
//! bytes` (family 0: the catalogue, 1: its search indexes; big-endian
//! length), then the end mark (family 0xFF, length `u64::MAX`), then the
//! 32-byte BLAKE3 of everything before it. A file is verified whole
//! (checksum and layout) before any of it is loaded, so a torn or corrupt
//! transfer changes nothing.
//!
//! Installing: both families are cleared and the parts are ingested
//! (`ingest_external_file`): the files become the families' SSTs without
//! a key passing through the memtable or the write-ahead log.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rocksdb::{IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, DB};

use super::{cf, CF_CATALOGUE, CF_LOG, CF_RAFT, CF_SEARCH, CF_SM};

const MAGIC: &[u8; 8] = b"MRDNSNP3";
const END: u64 = u64::MAX;
const END_FAMILY: u8 = 0xFF;
/// The families a snapshot carries, by their number in a part's header.
const FAMILIES: [&str; 2] = [CF_CATALOGUE, CF_SEARCH];
/// A part is closed once it reaches this size: bounds the scratch space and
/// lets RocksDB place parts in levels independently.
const PART_BYTES: u64 = 64 << 20;
/// A part claiming more than this is not ours: refuse rather than write it.
const MAX_PART: u64 = 4 << 30;

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

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn db_err(e: rocksdb::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Parts are written as the catalogue's own files would be: bloom filters
/// (lookups of absent keys skip them once ingested) and compression.
fn sst_options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
    let mut t = rocksdb::BlockBasedOptions::default();
    t.set_bloom_filter(10.0, false);
    o.set_block_based_table_factory(&t);
    o
}

/// What a checkpoint says about the state it holds.
pub struct CheckpointState {
    /// Raw `sm_state` values of these keys, as the state machine stored them.
    pub sm_values: Vec<Option<Vec<u8>>>,
    /// Catalogue entries written (search index entries not counted).
    pub entries: u64,
}

/// A checkpoint of `db` at `dir` (which must not exist).
pub fn checkpoint(db: &DB, dir: &Path) -> std::io::Result<()> {
    rocksdb::checkpoint::Checkpoint::new(db)
        .and_then(|c| c.create_checkpoint(dir))
        .map_err(db_err)
}

/// Writes the snapshot file `path` from the checkpoint at `checkpoint_dir`,
/// using `work` (created, then removed) for the parts, and fsyncs it.
/// Returns the checkpoint's `sm_state` values for `sm_keys`.
pub fn write_from_checkpoint(
    checkpoint_dir: &Path,
    sm_keys: &[&[u8]],
    path: &Path,
    work: &Path,
) -> std::io::Result<CheckpointState> {
    let db = DB::open_cf_for_read_only(
        &Options::default(),
        checkpoint_dir,
        [CF_LOG, CF_RAFT, CF_SM, CF_CATALOGUE, CF_SEARCH],
        false,
    )
    .map_err(db_err)?;
    let sm = cf(&db, CF_SM)?;
    let sm_values = sm_keys
        .iter()
        .map(|k| db.get_cf(sm, k).map_err(db_err))
        .collect::<Result<Vec<_>, _>>()?;

    std::fs::create_dir_all(work)?;
    let file = File::create(path)?;
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
    };
    w.write_all(MAGIC)?;
    let opts = sst_options();
    let mut entries = 0u64;
    let mut part = 0u32;
    for (family, name) in FAMILIES.iter().enumerate() {
        let mut it = db.raw_iterator_cf(cf(&db, name)?);
        it.seek_to_first();
        while it.valid() {
            let part_path = work.join(format!("part-{part}.sst"));
            let mut sst = SstFileWriter::create(&opts);
            sst.open(&part_path).map_err(db_err)?;
            while it.valid() && sst.file_size() < PART_BYTES {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                sst.put(k, v).map_err(db_err)?;
                if family == 0 {
                    entries += 1;
                }
                it.next();
            }
            sst.finish().map_err(db_err)?;
            append_part(&mut w, family as u8, &part_path)?;
            std::fs::remove_file(&part_path)?;
            part += 1;
        }
        it.status().map_err(db_err)?;
    }
    w.write_all(&[END_FAMILY])?;
    w.write_all(&END.to_be_bytes())?;
    let sum = *w.hasher.finalize().as_bytes();
    let mut inner = w.inner;
    inner.write_all(&sum)?;
    inner.flush()?;
    inner.get_ref().sync_all()?;
    drop(db);
    std::fs::remove_dir_all(work)?;
    Ok(CheckpointState { sm_values, entries })
}

fn append_part<W: Write>(w: &mut W, family: u8, part: &Path) -> std::io::Result<()> {
    let len = std::fs::metadata(part)?.len();
    w.write_all(&[family])?;
    w.write_all(&len.to_be_bytes())?;
    let copied = std::io::copy(&mut File::open(part)?, w)?;
    if copied != len {
        return Err(bad(format!("part {} changed while packed", part.display())));
    }
    Ok(())
}

/// Checks the file's checksum without loading it.
fn verify_checksum(path: &Path) -> std::io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    if len < (MAGIC.len() + 8 + 32) as u64 {
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

/// Walks the parts after the magic, calling `f` with each part's number,
/// family (an index into [`FAMILIES`]) and reader (limited to the part);
/// checks that the end mark sits exactly before the checksum. Returns the
/// number of parts.
fn parts(
    path: &Path,
    mut f: impl FnMut(u32, usize, &mut dyn Read) -> std::io::Result<()>,
) -> std::io::Result<u32> {
    let len = std::fs::metadata(path)?.len();
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a Meridian snapshot (or an older format)"));
    }
    let mut pos = MAGIC.len() as u64;
    let mut n = 0u32;
    loop {
        let mut header = [0u8; 9];
        r.read_exact(&mut header)?;
        pos += 9;
        let family = header[0];
        let mut word = [0u8; 8];
        word.copy_from_slice(&header[1..]);
        let plen = u64::from_be_bytes(word);
        if family == END_FAMILY && plen == END {
            break;
        }
        if usize::from(family) >= FAMILIES.len() {
            return Err(bad(format!("snapshot part of unknown family {family}")));
        }
        if plen > MAX_PART || pos + plen + 9 + 32 > len {
            return Err(bad("snapshot part out of bounds"));
        }
        let mut limited = (&mut r).take(plen);
        f(n, usize::from(family), &mut limited)?;
        // Whatever `f` left unread is skipped, so the walk stays aligned.
        std::io::copy(&mut limited, &mut std::io::sink())?;
        pos += plen;
        n += 1;
    }
    if pos + 32 != len {
        return Err(bad(
            "snapshot end mark is not followed by exactly the checksum",
        ));
    }
    Ok(n)
}

/// Checks the checksum and the layout, loading nothing.
pub fn verify(path: &Path) -> std::io::Result<()> {
    verify_checksum(path)?;
    parts(path, |_, _, _| Ok(()))?;
    Ok(())
}

/// Replaces the catalogue and its search indexes with the file's
/// contents, unpacking the parts into `work` (created, then removed) and
/// ingesting them. The caller has verified the file; the families are
/// cleared only now. Returns the parts.
pub fn load(db: &DB, path: &Path, work: &Path) -> std::io::Result<u32> {
    let families = FAMILIES
        .iter()
        .map(|name| cf(db, name))
        .collect::<Result<Vec<_>, _>>()?;
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); FAMILIES.len()];
    let n = parts(path, |i, family, part| {
        let p = work.join(format!("part-{i}.sst"));
        let mut out = File::create(&p)?;
        std::io::copy(part, &mut out)?;
        out.sync_all()?;
        files[family].push(p);
        Ok(())
    })?;
    let mut clear = WriteBatch::default();
    for family in &families {
        clear.delete_range_cf(*family, [0u8].as_slice(), [0xFFu8; 16].as_slice());
    }
    db.write(clear).map_err(db_err)?;
    for (family, files) in families.iter().zip(files) {
        if !files.is_empty() {
            let mut opts = IngestExternalFileOptions::default();
            opts.set_move_files(true);
            db.ingest_external_file_cf_opts(*family, &opts, files)
                .map_err(db_err)?;
        }
    }
    std::fs::remove_dir_all(work)?;
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
        for i in 0..1000u32 {
            db.put_cf(cat, format!("k{i:04}"), i.to_be_bytes())
                .expect("put");
        }
        let search = cf(&db, CF_SEARCH).expect("search");
        for i in 0..300u32 {
            db.put_cf(search, format!("q{i:04}"), b"").expect("put");
        }
        db.put_cf(cf(&db, CF_SM).expect("sm"), b"marker", b"m1")
            .expect("put");
        let cp = dir.path().join("cp");
        checkpoint(&db, &cp).expect("checkpoint");
        // Written after the checkpoint: not in the snapshot.
        db.put_cf(cat, b"later", b"x").expect("put");
        let file = dir.path().join("s.snap");
        let st = write_from_checkpoint(&cp, &[b"marker", b"absent"], &file, &dir.path().join("w"))
            .expect("write");
        assert_eq!(st.entries, 1000);
        assert_eq!(st.sm_values, vec![Some(b"m1".to_vec()), None]);
        assert!(!dir.path().join("w").exists(), "scratch space left behind");
        verify(&file).expect("a good file verifies");

        let other = crate::store::open_db(&dir.path().join("db2")).expect("db2");
        let ocat = cf(&other, CF_CATALOGUE).expect("cf");
        let osearch = cf(&other, CF_SEARCH).expect("search");
        other.put_cf(ocat, b"stale", b"x").expect("put");
        other.put_cf(osearch, b"qstale", b"").expect("put");
        // One part of records, one of index entries.
        assert_eq!(load(&other, &file, &dir.path().join("l")).expect("load"), 2);
        assert!(other.get_cf(osearch, b"qstale").expect("get").is_none());
        assert!(other.get_cf(osearch, b"q0299").expect("get").is_some());
        assert!(
            other.get_cf(ocat, b"q0299").expect("get").is_none(),
            "each family's entries land in that family"
        );
        assert_eq!(
            other
                .iterator_cf(osearch, rocksdb::IteratorMode::Start)
                .count(),
            300
        );
        assert!(
            other.get_cf(ocat, b"stale").expect("get").is_none(),
            "load replaces, not merges"
        );
        assert!(other.get_cf(ocat, b"later").expect("get").is_none());
        assert_eq!(
            other.get_cf(ocat, b"k0042").expect("get"),
            Some(42u32.to_be_bytes().to_vec())
        );
        let count = other
            .iterator_cf(ocat, rocksdb::IteratorMode::Start)
            .count();
        assert_eq!(count, 1000);

        let good = std::fs::read(&file).expect("read");
        let body = &good[..good.len() - 32];
        // A flipped byte fails the checksum.
        let mut flipped = good.clone();
        flipped[20] ^= 1;
        std::fs::write(&file, &flipped).expect("write");
        assert!(verify(&file).is_err());
        // A valid checksum over a body without its end mark fails the layout check.
        std::fs::write(&file, with_checksum(&body[..body.len() - 9])).expect("write");
        assert!(verify(&file).is_err());
        // A part that claims more bytes than the file holds.
        let mut lying = MAGIC.to_vec();
        lying.push(0);
        lying.extend_from_slice(&(1u64 << 20).to_be_bytes());
        lying.extend_from_slice(b"sst");
        lying.push(END_FAMILY);
        lying.extend_from_slice(&END.to_be_bytes());
        std::fs::write(&file, with_checksum(&lying)).expect("write");
        assert!(verify(&file).is_err());
        // A part of a family the format does not have.
        let mut unknown = MAGIC.to_vec();
        unknown.push(7);
        unknown.extend_from_slice(&3u64.to_be_bytes());
        unknown.extend_from_slice(b"sst");
        unknown.push(END_FAMILY);
        unknown.extend_from_slice(&END.to_be_bytes());
        std::fs::write(&file, with_checksum(&unknown)).expect("write");
        let e = verify(&file).expect_err("unknown family");
        assert!(e.to_string().contains("unknown family"), "{e}");
        // Trailing bytes after the end mark.
        let mut trailing = body.to_vec();
        trailing.push(0);
        std::fs::write(&file, with_checksum(&trailing)).expect("write");
        assert!(verify(&file).is_err());
        // The previous format is refused by name.
        let mut old = b"MRDNSNP2".to_vec();
        old.extend_from_slice(&END.to_be_bytes());
        std::fs::write(&file, with_checksum(&old)).expect("write");
        let e = verify(&file).expect_err("old format");
        assert!(e.to_string().contains("older format"), "{e}");
    }

    #[test]
    fn an_empty_catalogue_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = crate::store::open_db(&dir.path().join("db")).expect("db");
        let cp = dir.path().join("cp");
        checkpoint(&db, &cp).expect("checkpoint");
        let file = dir.path().join("s.snap");
        write_from_checkpoint(&cp, &[], &file, &dir.path().join("w")).expect("write");
        verify(&file).expect("verifies");
        let other = crate::store::open_db(&dir.path().join("db2")).expect("db2");
        other
            .put_cf(cf(&other, CF_CATALOGUE).expect("cf"), b"stale", b"x")
            .expect("put");
        assert_eq!(load(&other, &file, &dir.path().join("l")).expect("load"), 0);
        assert!(other
            .get_cf(cf(&other, CF_CATALOGUE).expect("cf"), b"stale")
            .expect("get")
            .is_none());
    }
}
