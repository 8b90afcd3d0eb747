//! Looking at a site's chunk files the way the scrubber and the audit do:
//! re-hashing one from disk (through no cache of ours), setting a bad one
//! aside, and listing the chunk area in hash order.

use std::io::Read;
use std::path::{Path, PathBuf};

use meridian_core::chunks::ChunkHash;

use crate::error::DataError;
use crate::store::{SiteStore, MAX_CHUNK_BYTES};

/// What re-reading a chunk file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkCheck {
    /// Its bytes hash to its name; how many there were.
    Intact(u64),
    Missing,
    /// Its bytes hash to something else (or it is larger than any chunk).
    Corrupt {
        actual: String,
    },
}

/// Quarantined files kept at most (the oldest go first).
const QUARANTINE_KEEP: usize = 1024;
/// Bytes read per step while hashing.
const READ_STEP: usize = 1 << 20;

/// A file in a site's chunk area, with its name there (`ab/abcd...`),
/// which orders the listing and is its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFile {
    pub name: String,
    /// `None`: the name is not a chunk's (a writer's temporary file, or
    /// something left by another program).
    pub hash: Option<ChunkHash>,
    pub size: u64,
}

fn hash_file(path: &Path, want: &ChunkHash) -> std::io::Result<ChunkCheck> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ChunkCheck::Missing),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len > MAX_CHUNK_BYTES {
        return Ok(ChunkCheck::Corrupt {
            actual: format!("a file of {len} bytes, above the chunk bound"),
        });
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; READ_STEP];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_CHUNK_BYTES {
            return Ok(ChunkCheck::Corrupt {
                actual: "a file that grew past the chunk bound while read".into(),
            });
        }
        hasher.update(&buf[..n]);
    }
    let actual = hasher.finalize();
    if actual.as_bytes() == want {
        Ok(ChunkCheck::Intact(total))
    } else {
        Ok(ChunkCheck::Corrupt {
            actual: actual.to_hex().to_string(),
        })
    }
}

fn parse_hash(name: &str) -> Option<ChunkHash> {
    if name.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    hex::decode_to_slice(name, &mut h).ok()?;
    Some(h)
}

impl SiteStore {
    /// Reads the chunk's file and hashes it. Takes no lock: a file being
    /// replaced is read whole either way (object_store writes beside and
    /// renames), and a finding that matters is confirmed by
    /// [`SiteStore::set_aside`] under the chunk's lock.
    pub async fn check(&self, hash: &ChunkHash) -> Result<ChunkCheck, DataError> {
        let path = self.chunk_file(hash);
        let want = *hash;
        tokio::task::spawn_blocking(move || hash_file(&path, &want))
            .await
            .map_err(|e| DataError::Task(e.to_string()))?
            .map_err(|e| self.io_error(e))
    }

    /// Whether the chunk's file exists (not read, not freshened: the audit
    /// looks without counting on it).
    pub async fn exists(&self, hash: &ChunkHash) -> Result<bool, DataError> {
        let path = self.chunk_file(hash);
        match tokio::fs::metadata(&path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(e)),
        }
    }

    /// Confirms a bad finding under the chunk's lock, taken alone (no
    /// writer or "already held" check is between its steps), and moves a
    /// corrupt file to `quarantine/` so that nothing reads it or counts it
    /// as held again. A file found intact now (rewritten meanwhile) stays.
    pub async fn set_aside(&self, hash: &ChunkHash) -> Result<ChunkCheck, DataError> {
        let _alone = self.locks.alone(hash).await;
        let found = self.check(hash).await?;
        if let ChunkCheck::Corrupt { .. } = &found {
            let from = self.chunk_file(hash);
            let dir = self.dir.join("quarantine");
            let to = dir.join(format!("{}.{}", hex::encode(hash), self.clock.now_ms()));
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                std::fs::rename(&from, &to)?;
                trim_quarantine(&dir)
            })
            .await
            .map_err(|e| DataError::Task(e.to_string()))?
            .map_err(|e| self.io_error(e))?;
            tracing::warn!(site = %self.name, chunk = %hex::encode(hash), "corrupt chunk quarantined");
        }
        Ok(found)
    }

    /// Up to `limit` files of the chunk area after `after`, in hash order
    /// (the area's 256 directories in order, each sorted).
    pub async fn chunk_files(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChunkFile>, DataError> {
        let root = self.dir.join("chunks");
        let after = after.map(str::to_string);
        tokio::task::spawn_blocking(move || list_after(&root, after.as_deref(), limit))
            .await
            .map_err(|e| DataError::Task(e.to_string()))?
            .map_err(|e| self.io_error(e))
    }
}

/// Keeps the newest [`QUARANTINE_KEEP`] files (names end in the time they
/// were set aside).
fn trim_quarantine(dir: &Path) -> std::io::Result<()> {
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let at = name.rsplit('.').next()?.parse().ok()?;
            Some((at, e.path()))
        })
        .collect();
    if files.len() <= QUARANTINE_KEEP {
        return Ok(());
    }
    files.sort();
    let excess = files.len() - QUARANTINE_KEEP;
    for (_, p) in files.into_iter().take(excess) {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn list_after(root: &Path, after: Option<&str>, limit: usize) -> std::io::Result<Vec<ChunkFile>> {
    let mut out = Vec::new();
    let mut dirs: Vec<String> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    dirs.sort();
    let (after_dir, after_name) = match after.and_then(|a| a.split_once('/')) {
        Some((d, n)) => (Some(d), Some(n)),
        None => (None, None),
    };
    for d in dirs {
        if after_dir.is_some_and(|a| d.as_str() < a) {
            continue;
        }
        let same_dir = after_dir == Some(d.as_str());
        let mut names: Vec<(String, u64)> = Vec::new();
        for e in std::fs::read_dir(root.join(&d))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if same_dir && after_name.is_some_and(|a| name.as_str() <= a) {
                continue;
            }
            // A file removed between the listing and this look is skipped.
            let Ok(meta) = e.metadata() else { continue };
            names.push((name, meta.len()));
        }
        names.sort();
        for (name, size) in names {
            let hash = parse_hash(&name).filter(|h| hex::encode(&h[..1]) == d);
            out.push(ChunkFile {
                name: format!("{d}/{name}"),
                hash,
                size,
            });
            if out.len() >= limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use meridian_core::clock::ManualClock;
    use meridian_core::Chunk;

    fn chunk(n: u8, len: usize) -> Chunk {
        Chunk::hash_of(Bytes::from(vec![n; len]))
    }

    #[tokio::test]
    async fn a_flipped_bit_is_found_confirmed_and_set_aside() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = SiteStore::open_local("T", dir.path(), ManualClock::starting_now()).expect("open");
        let c = chunk(7, 3000);
        let h = *c.hash();
        s.put(c).await.expect("put");
        assert_eq!(s.check(&h).await.expect("check"), ChunkCheck::Intact(3000));

        let path = s.chunk_file(&h);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[1234] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            s.check(&h).await.expect("check"),
            ChunkCheck::Corrupt { .. }
        ));
        assert!(matches!(
            s.set_aside(&h).await.expect("aside"),
            ChunkCheck::Corrupt { .. }
        ));
        assert_eq!(s.check(&h).await.expect("check"), ChunkCheck::Missing);
        assert!(
            !s.holds(&h).await.expect("holds"),
            "no longer counted as held"
        );
        let kept = std::fs::read_dir(dir.path().join("quarantine"))
            .expect("q")
            .count();
        assert_eq!(kept, 1);

        // Truncated, then missing.
        let c = chunk(8, 5000);
        let h = *c.hash();
        s.put(c).await.expect("put");
        std::fs::write(s.chunk_file(&h), vec![8u8; 10]).expect("truncate");
        assert!(matches!(
            s.check(&h).await.expect("check"),
            ChunkCheck::Corrupt { .. }
        ));
        std::fs::remove_file(s.chunk_file(&h)).expect("rm");
        assert_eq!(s.set_aside(&h).await.expect("aside"), ChunkCheck::Missing);
    }

    #[tokio::test]
    async fn the_chunk_area_lists_in_hash_order_from_a_cursor() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = SiteStore::open_local("T", dir.path(), ManualClock::starting_now()).expect("open");
        let mut hashes = Vec::new();
        for n in 0..40u8 {
            let c = chunk(n, 100 + n as usize);
            hashes.push(*c.hash());
            s.put(c).await.expect("put");
        }
        hashes.sort();
        std::fs::write(
            dir.path()
                .join("chunks")
                .join(&hex::encode(hashes[0])[..2])
                .join("junk"),
            b"x",
        )
        .expect("junk");
        let mut seen = Vec::new();
        let mut foreign = 0;
        let mut after: Option<String> = None;
        loop {
            let page = s.chunk_files(after.as_deref(), 7).await.expect("list");
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for f in page {
                match f.hash {
                    Some(h) => seen.push(h),
                    None => foreign += 1,
                }
            }
        }
        assert_eq!(seen, hashes);
        assert_eq!(
            foreign, 1,
            "the stray file is named once, not taken for a chunk"
        );
    }
}
