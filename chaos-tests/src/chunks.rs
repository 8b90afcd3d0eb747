//! Finding and damaging chunk files on disk. The layout under a site's
//! chunk directory is the server's business; files are found by the BLAKE3
//! hex in their path, whatever the fan-out of subdirectories.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Bounds the walk so that a runaway directory cannot hang a test.
const MAX_FILES: usize = 200_000;
const MAX_DEPTH: usize = 8;

/// Every regular file under `dir` (empty if `dir` does not exist).
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", d.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", d.display()))?;
            let ty = entry
                .file_type()
                .with_context(|| format!("stat {}", entry.path().display()))?;
            if ty.is_dir() && depth < MAX_DEPTH {
                stack.push((entry.path(), depth + 1));
            } else if ty.is_file() {
                files.push(entry.path());
                if files.len() > MAX_FILES {
                    bail!("more than {MAX_FILES} files under {}", dir.display());
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Files under `dir` whose path below `dir`, with separators removed,
/// contains `hash_hex` (so `ab/cd/abcd...`, `ab/cdef...` and `abcdef....chunk` all match).
pub fn find_chunk_files(dir: &Path, hash_hex: &str) -> Result<Vec<PathBuf>> {
    let needle = hash_hex.to_ascii_lowercase();
    let mut found = Vec::new();
    for f in files_under(dir)? {
        let rel = f.strip_prefix(dir).unwrap_or(&f);
        let joined: String = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_ascii_lowercase())
            .collect();
        if joined.contains(&needle) {
            found.push(f);
        }
    }
    Ok(found)
}

/// Inverts one byte in the middle of `path`, in place. Returns the offset.
pub fn flip_byte(path: &Path) -> Result<u64> {
    let mut data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if data.is_empty() {
        bail!("{} is empty; nothing to corrupt", path.display());
    }
    let at = data.len() / 2;
    data[at] ^= 0xff;
    std::fs::write(path, &data).with_context(|| format!("writing {}", path.display()))?;
    Ok(at as u64)
}

/// A short listing of `dir` for failure messages.
pub fn describe_tree(dir: &Path, max: usize) -> String {
    match files_under(dir) {
        Ok(files) => {
            let mut s = format!("{} files under {}", files.len(), dir.display());
            for f in files.iter().take(max) {
                s.push_str(&format!("\n  {}", f.display()));
            }
            s
        }
        Err(e) => format!("cannot list {}: {e:#}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hash_split_over_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = "ab".repeat(32);
        let nested = dir.path().join("ab").join("ab");
        std::fs::create_dir_all(&nested).expect("mkdir");
        std::fs::write(nested.join(&hash[4..]), b"xyz").expect("write");
        std::fs::write(dir.path().join("unrelated"), b"q").expect("write");
        let found = find_chunk_files(dir.path(), &hash).expect("walk");
        assert_eq!(found, vec![nested.join(&hash[4..])]);
        flip_byte(&found[0]).expect("flip");
        assert_eq!(
            std::fs::read(&found[0]).expect("read"),
            vec![b'x', !b'y', b'z']
        );
    }
}
