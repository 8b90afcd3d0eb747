//! Search cursors a caller cannot read: the catalogue's cursor is the last
//! key its walk read, which names the last candidate whether or not the
//! caller may see it (a hidden dataset's name, a key in a bucket they may
//! not list). The API hands it out sealed (ChaCha20-Poly1305 under a key
//! of this process), so a cursor only goes on from where it was, on the
//! node that gave it, until that node restarts.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;
use tonic::Status;

const NONCE: usize = 12;

pub struct Cursors {
    cipher: ChaCha20Poly1305,
}

impl Default for Cursors {
    fn default() -> Self {
        let key: [u8; 32] = rand::rng().random();
        Cursors {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }
}

impl Cursors {
    /// The cursor to hand out for the catalogue's `raw`.
    pub fn seal(&self, raw: &str) -> String {
        let nonce: [u8; NONCE] = rand::rng().random();
        // Encryption fails only for messages beyond 2^38 bytes.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), raw.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        hex::encode(out)
    }

    /// The catalogue's cursor in one this API handed out.
    pub fn open(&self, cursor: &str) -> Result<String, Status> {
        let refused = || {
            Status::invalid_argument(
                "the cursor is not one this node gave (cursors last until the node restarts)",
            )
        };
        let bytes = hex::decode(cursor).map_err(|_| refused())?;
        if bytes.len() <= NONCE {
            return Err(refused());
        }
        let (nonce, body) = bytes.split_at(NONCE);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_hide_what_they_hold_and_refuse_forgeries() {
        let c = Cursors::default();
        let sealed = c.seal("6664736f6d652d686964");
        assert!(!sealed.contains("6664736f6d652d686964"));
        assert_eq!(c.open(&sealed).expect("opens"), "6664736f6d652d686964");
        assert!(c.open("6664736f6d652d686964").is_err());
        assert!(Cursors::default().open(&sealed).is_err());
    }
}
