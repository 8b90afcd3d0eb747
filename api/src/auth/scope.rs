//! Token scopes in the WLCG Common JWT Profile's storage form
//! (`storage.read:/path`, `storage.create:/path`, `storage.modify:/path`),
//! the form FTS and Rucio already hand out. A path is `/BUCKET/KEY-PREFIX`
//! and covers what lies under it as a directory does: `/juno/raw` covers
//! `juno`'s keys `raw` and `raw/...`, not `rawdata`.

use std::fmt;

/// What a scope lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Read, stat and list.
    Read,
    /// Write new objects (not overwrite or delete).
    Create,
    /// Write, overwrite and delete.
    Modify,
}

impl Access {
    fn name(self) -> &'static str {
        match self {
            Access::Read => "storage.read",
            Access::Create => "storage.create",
            Access::Modify => "storage.modify",
        }
    }

    /// Whether a scope of this kind grants `need`.
    fn grants(self, need: Access) -> bool {
        self == need || (self == Access::Modify && need == Access::Create)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access: Access,
    /// `/`, `/BUCKET` or `/BUCKET/PREFIX`, without a trailing `/`.
    pub path: String,
}

/// The storage scopes of a token; scopes of other kinds (`openid`,
/// `compute.*`, `storage.stage`) grant nothing here and are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

/// A path as a scope or a request names it: `/`, or `/seg/seg...` with no
/// empty, `.` or `..` segment.
fn normal_path(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("scope path {p:?} does not start with '/'"));
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok("/".into());
    }
    if trimmed[1..]
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "scope path {p:?} has an empty, '.' or '..' segment"
        ));
    }
    Ok(trimmed.to_string())
}

/// Whether `path` is `dir` or lies under it, as in a directory tree.
fn within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Scopes {
    /// A token's `scope` claim (space-separated).
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut out = Vec::new();
        for item in text.split_whitespace() {
            let Some((kind, path)) = item.split_once(':') else {
                continue;
            };
            let access = match kind {
                "storage.read" => Access::Read,
                "storage.create" => Access::Create,
                "storage.modify" => Access::Modify,
                _ => continue,
            };
            out.push(Scope {
                access,
                path: normal_path(path)?,
            });
        }
        Ok(Scopes(out))
    }

    /// Whether some scope grants `need` on `bucket` (and `key`, a key or
    /// a listing's prefix; empty for the bucket itself; `bucket` empty for
    /// the whole store).
    pub fn allows(&self, need: Access, bucket: &str, key: &str) -> bool {
        let target = match (bucket, key) {
            ("", _) => "/".to_string(),
            (b, "") => format!("/{b}"),
            (b, k) => format!("/{b}/{}", k.trim_end_matches('/')),
        };
        self.0
            .iter()
            .any(|s| s.access.grants(need) && within(&target, &s.path))
    }

    /// Whether some scope reaches into `bucket` at all.
    pub fn touches(&self, bucket: &str) -> bool {
        let root = format!("/{bucket}");
        self.0
            .iter()
            .any(|s| s.path == "/" || within(&s.path, &root))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("{}:{}", s.access.name(), s.path))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cover_what_lies_under_them_as_directories() {
        let s = Scopes::parse("openid storage.read:/juno/raw storage.create:/juno/out/")
            .expect("parses");
        assert_eq!(
            s.to_string(),
            "storage.read:/juno/raw storage.create:/juno/out"
        );
        assert!(s.allows(Access::Read, "juno", "raw"));
        assert!(s.allows(Access::Read, "juno", "raw/run1.h5"));
        assert!(s.allows(Access::Read, "juno", "raw/"));
        assert!(!s.allows(Access::Read, "juno", "rawdata"));
        assert!(!s.allows(Access::Read, "juno", ""), "the whole bucket");
        assert!(!s.allows(Access::Read, "", ""), "every bucket");
        assert!(
            !s.allows(Access::Create, "juno", "raw/x"),
            "read only there"
        );
        assert!(s.allows(Access::Create, "juno", "out/x"));
        assert!(
            !s.allows(Access::Modify, "juno", "out/x"),
            "create is not modify"
        );
        assert!(
            !s.allows(Access::Read, "juno", "out/x"),
            "create is not read"
        );
        assert!(s.touches("juno") && !s.touches("jun") && !s.touches("other"));
        let m = Scopes::parse("storage.modify:/").expect("parses");
        assert!(m.allows(Access::Create, "any", "thing"));
        assert!(!m.allows(Access::Read, "any", "thing"));
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "storage.read:juno",
            "storage.read:/juno//x",
            "storage.read:/juno/../other",
        ] {
            assert!(Scopes::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Scopes::parse("compute.read storage.stage:/x")
            .expect("others ignored")
            .is_empty());
    }
}
