//! Bearer tokens: this cluster's own issuer (its key in a file every node
//! shares, as the cluster key; made on first start if absent) and the
//! issuers whose tokens it trusts (their public keys from the
//! configuration).

use std::path::{Path, PathBuf};

use anyhow::Context;
use meridian_api::auth::token::{TokenIssuer, TokenVerifier, TrustedIssuer};

/// Where the issuer key is and what the tokens say.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// ES256 (P-256) private key, PKCS#8 PEM.
    pub key_file: PathBuf,
    /// The `iss` of this cluster's tokens.
    pub issuer: String,
    /// The audience they are for, and that tokens presented here may name
    /// (beside the WLCG "any" audience).
    pub audience: String,
    pub trusted: Vec<TrustedFile>,
}

/// An issuer trusted from the configuration.
#[derive(Debug, Clone)]
pub struct TrustedFile {
    pub issuer: String,
    /// Its public key, PEM (EC P-256 for ES256, RSA for RS256).
    pub public_key: PathBuf,
    /// The user its tokens act for; none: the token's `sub`.
    pub user: Option<String>,
}

impl TokenSettings {
    /// `meridian dev`'s: a key in the data directory, nobody else trusted.
    pub fn dev(data_dir: &Path) -> Self {
        TokenSettings {
            key_file: data_dir.join("token.key"),
            issuer: "meridian-dev".into(),
            audience: "meridian".into(),
            trusted: Vec::new(),
        }
    }
}

/// The issuer (its key made if absent) and a verifier trusting it and the
/// configured issuers.
pub fn load(s: &TokenSettings) -> anyhow::Result<(TokenIssuer, TokenVerifier)> {
    if !s.key_file.exists() {
        let pem = TokenIssuer::generate_pem().map_err(anyhow::Error::msg)?;
        meridian_tls::write_new(&s.key_file, &pem, true)
            .with_context(|| format!("writing the token key {}", s.key_file.display()))?;
    }
    let pem = std::fs::read_to_string(&s.key_file)
        .with_context(|| format!("reading the token key {}", s.key_file.display()))?;
    let own = TokenIssuer::from_pem(&s.issuer, &s.audience, &pem)
        .map_err(|e| anyhow::anyhow!("the token key {}: {e}", s.key_file.display()))?;
    let mut trusted = vec![own.trusted().map_err(anyhow::Error::msg)?];
    for t in &s.trusted {
        let pem = std::fs::read_to_string(&t.public_key)
            .with_context(|| format!("reading {}", t.public_key.display()))?;
        trusted.push(
            TrustedIssuer::from_pem(&t.issuer, &pem, t.user.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", t.public_key.display()))?,
        );
    }
    let verifier = TokenVerifier::new(trusted, std::slice::from_ref(&s.audience));
    Ok((own, verifier))
}
