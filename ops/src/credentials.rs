//! The administrator's credential, from the environment or a file: never
//! from the command line, where it would land in shell history and in
//! every process listing.
//!
//! In order: `MERIDIAN_ACCESS_KEY` and `MERIDIAN_SECRET_KEY`; the file
//! `MERIDIAN_CREDENTIALS` names; `~/.config/meridian/credentials`. The file
//! holds two lines, `access_key = ...` and `secret_key = ...` (TOML), and
//! must not be readable by others.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    /// Where they came from, for messages.
    pub source: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    access_key: String,
    secret_key: String,
}

fn from_file(path: &Path) -> anyhow::Result<Credentials> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: File = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Credentials {
        access_key: f.access_key,
        secret_key: f.secret_key,
        source: path.display().to_string(),
    })
}

/// The credential to sign with; `env` reads a variable (the process's
/// environment, or a test's).
pub fn resolve(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Credentials> {
    let var = |n: &str| env(n).filter(|v| !v.is_empty());
    match (var("MERIDIAN_ACCESS_KEY"), var("MERIDIAN_SECRET_KEY")) {
        (Some(access_key), Some(secret_key)) => {
            return Ok(Credentials {
                access_key,
                secret_key,
                source: "MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY".into(),
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            bail!("MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY go together")
        }
        (None, None) => {}
    }
    if let Some(p) = var("MERIDIAN_CREDENTIALS") {
        return from_file(Path::new(&p));
    }
    let default = var("HOME").map(|h| PathBuf::from(h).join(".config/meridian/credentials"));
    match default {
        Some(p) if p.exists() => from_file(&p),
        _ => bail!(
            "no credentials: set MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY, or write \
             `access_key = \"...\"` and `secret_key = \"...\"` to ~/.config/meridian/credentials \
             (mode 600) or the file MERIDIAN_CREDENTIALS names"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_environment_then_a_private_file() {
        let c = resolve(env(&[
            ("MERIDIAN_ACCESS_KEY", "AK"),
            ("MERIDIAN_SECRET_KEY", "SK"),
        ]))
        .expect("from env");
        assert_eq!((c.access_key.as_str(), c.secret_key.as_str()), ("AK", "SK"));
        let half = resolve(env(&[("MERIDIAN_ACCESS_KEY", "AK")]));
        assert!(half.is_err_and(|e| e.to_string().contains("go together")));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("creds");
        std::fs::write(&f, "access_key = \"FK\"\nsecret_key = \"FS\"\n").expect("write");
        let p = f.display().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let open = resolve(env(&[("MERIDIAN_CREDENTIALS", &p)]));
            assert!(open.is_err_and(|e| e.to_string().contains("readable by others")));
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let c = resolve(env(&[("MERIDIAN_CREDENTIALS", &p)])).expect("from file");
        assert_eq!(c.access_key, "FK");
        let none = resolve(env(&[("HOME", "/nonexistent")]));
        assert!(none.is_err_and(|e| e.to_string().contains("no credentials")));
    }
}
