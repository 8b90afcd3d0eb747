//! Identifiers the domain makes: version ids and upload ids.

/// A version id: unique per key (the time it was made and 32 random bits),
/// short because every record and replica update carries it; ids of one
/// key sort by the time in their hex prefix.
pub fn new_version_id(now_ms: i64) -> String {
    format!("{:x}{:08x}", now_ms, rand::random::<u32>())
}

/// An upload id: unguessable enough that one client cannot stumble on
/// another's upload.
pub fn new_upload_id(now_ms: i64) -> String {
    let a: u64 = rand::random();
    let b: u64 = rand::random();
    format!("{now_ms:016x}{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_time_and_differ() {
        let a = new_version_id(0x1234);
        assert!(a.starts_with("1234") && a.len() == 12, "{a}");
        assert_ne!(new_upload_id(7), new_upload_id(7));
        assert!(new_upload_id(7).starts_with("0000000000000007"));
    }
}
