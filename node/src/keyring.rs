//! The cluster key, and the access keys' secrets sealed with it.
//!
//! Secrets are stored in the catalogue only sealed (ChaCha20-Poly1305, a
//! random 12-byte nonce per secret, the access key id as associated data
//! so a sealed secret cannot be moved to another key), so the catalogue's
//! files, snapshots and backups do not give them away. The cluster key is
//! 32 random bytes in a file (hex, mode 0600): `meridian dev` creates
//! `<data-dir>/cluster.key` at first start; the nodes of a cluster all read
//! the same file (`[security] cluster_key_file`).

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cluster key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster key file {0}: expected 64 hex digits (32 bytes)")]
    Format(PathBuf),
    #[error("the secret of access key {0} does not open with this cluster key (another cluster's key, or damaged)")]
    Open(String),
}

pub struct Keyring {
    cipher: ChaCha20Poly1305,
}

const NONCE: usize = 12;

impl Keyring {
    /// Reads the key file, creating it (0600) with a fresh key if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyringError> {
        if !path.exists() {
            let key: [u8; 32] = rand::rng().random();
            write_private(path, &format!("{}\n", hex::encode(key))).map_err(|source| {
                KeyringError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        Self::load(path)
    }

    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bytes = hex::decode(text.trim()).map_err(|_| KeyringError::Format(path.into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyringError::Format(path.into()))?;
        Ok(Keyring {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    pub fn seal(&self, access_key: &str, secret: &str) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::rng().random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: access_key.as_bytes(),
                },
            )
            // Encryption fails only for messages beyond 2^38 bytes.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, access_key: &str, sealed: &[u8]) -> Result<String, KeyringError> {
        let fail = || KeyringError::Open(access_key.to_string());
        if sealed.len() <= NONCE {
            return Err(fail());
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: access_key.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

/// Writes a new file atomically: complete under a temporary name, then
/// linked into place, so nodes starting together on one shared file see
/// either none or the whole key, and the first one's key wins.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".cluster-key.{}.{}",
        std::process::id(),
        rand::rng().random::<u32>()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(chars: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| chars[rng.random_range(0..chars.len())] as char)
        .collect()
}

/// A new access key id: `MK` and 18 upper-case letters and digits (20, as
/// AWS's).
pub fn new_access_key() -> String {
    format!("MK{}", random_from(ALNUM, 18))
}

/// A new secret: 40 letters and digits (238 bits).
pub fn new_secret() -> String {
    random_from(SECRET_CHARS, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_id() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("cluster.key");
        let ring = Keyring::load_or_create(&path).expect("create");
        let again = Keyring::load_or_create(&path).expect("reload");
        let (id, secret) = (new_access_key(), new_secret());
        assert_eq!(id.len(), 20);
        let sealed = ring.seal(&id, &secret);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert_eq!(again.open(&id, &sealed).expect("open"), secret);
        assert!(ring.open("MKOTHERKEY0000000000", &sealed).is_err());
        let other = Keyring::load_or_create(&dir.path().join("other.key")).expect("other");
        assert!(other.open(&id, &sealed).is_err());
        let mut damaged = sealed.clone();
        damaged[20] ^= 1;
        assert!(ring.open(&id, &damaged).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("bad.key"), "xyz").expect("write");
        assert!(matches!(
            Keyring::load(&dir.path().join("bad.key")),
            Err(KeyringError::Format(_))
        ));
    }
}
