//! Sites as S3 regions: each site is a region named after it in lower
//! case, and the federation has a default region besides (what clients sign
//! for when they set none). Names only; the S3 front end decides what a
//! request's region means.

/// The region clients sign for when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The region name of a site: its name in lower case, with anything but
/// letters, digits and `-` turned into `-` (region names are `[a-z0-9-]+`).
pub fn site_region(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Whether `s` is a well-formed region name.
pub fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
