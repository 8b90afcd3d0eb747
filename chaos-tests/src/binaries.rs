//! Finding the `meridian` and `meridianctl` executables.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub const SERVER_ENV: &str = "MERIDIAN_BIN";
pub const CTL_ENV: &str = "MERIDIANCTL_BIN";

/// The server binary: `$MERIDIAN_BIN`, else beside the running executable.
pub fn meridian() -> Result<PathBuf> {
    locate(SERVER_ENV, "meridian", "meridian-node")
}

/// The admin CLI: `$MERIDIANCTL_BIN`, else beside the running executable.
pub fn meridianctl() -> Result<PathBuf> {
    locate(CTL_ENV, "meridianctl", "meridian-ops")
}

fn locate(env: &str, name: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{env}={} does not name a file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find the running executable")?;
    let dir =
        profile_dir(&exe).with_context(|| format!("{} has no parent directory", exe.display()))?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "{} not found: build it first (cargo build -p {package}) with the same \
             CARGO_TARGET_DIR and profile as the tests, or set {env}",
            path.display()
        );
    }
    Ok(path)
}

/// Test executables live in `target/<profile>/deps/`, binaries one level up;
/// a binary (such as the bench) already sits in `target/<profile>/`.
fn profile_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        return dir.parent().map(Path::to_path_buf);
    }
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_dir_maps_to_profile_dir() {
        let p = profile_dir(Path::new("/t/debug/deps/kill9-abc")).expect("parent");
        assert_eq!(p, PathBuf::from("/t/debug"));
        let p = profile_dir(Path::new("/t/release/meridian-bench")).expect("parent");
        assert_eq!(p, PathBuf::from("/t/release"));
    }
}
