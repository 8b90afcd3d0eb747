//! Checksums of multipart uploads. Each part's `x-amz-checksum-*` is
//! verified on UploadPart (as a single PUT's is) and kept with the part;
//! at completion the object's is made from the parts', as S3 does:
//! COMPOSITE, the algorithm over the concatenated part checksums with
//! `-N` appended; or FULL_OBJECT (CRCs only), the part CRCs combined into
//! the CRC of the whole content without reading it again.

use base64::Engine as _;
use meridian_core::records::PartRecord;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::{ChecksumAlgorithm, ChecksumType};
use s3s::{s3_error, S3Result};

pub const COMPOSITE: &str = "COMPOSITE";
pub const FULL_OBJECT: &str = "FULL_OBJECT";

/// The algorithm and type an upload declares at creation; both empty when
/// it declares none.
pub fn declared(
    alg: Option<&ChecksumAlgorithm>,
    ty: Option<&ChecksumType>,
) -> S3Result<(String, String)> {
    let ty = ty.map(|t| t.as_str().to_ascii_uppercase());
    let Some(alg) = alg.map(|a| a.as_str().to_ascii_uppercase()) else {
        if ty.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "x-amz-checksum-type needs x-amz-checksum-algorithm"
            ));
        }
        return Ok((String::new(), String::new()));
    };
    let ty = match (alg.as_str(), ty.as_deref()) {
        ("CRC64NVME", None | Some(FULL_OBJECT)) => FULL_OBJECT,
        ("CRC32" | "CRC32C", None | Some(COMPOSITE)) => COMPOSITE,
        ("CRC32" | "CRC32C", Some(FULL_OBJECT)) => FULL_OBJECT,
        ("SHA1" | "SHA256", None | Some(COMPOSITE)) => COMPOSITE,
        ("CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256", Some(t)) => {
            return Err(s3_error!(
                InvalidRequest,
                "The {t} checksum type cannot be used with the {alg} checksum algorithm."
            ))
        }
        _ => {
            return Err(s3_error!(
                InvalidRequest,
                "checksum algorithm {alg}: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256"
            ))
        }
    };
    Ok((alg, ty.to_string()))
}

fn decode(part: &PartRecord, alg: &str) -> S3Result<Vec<u8>> {
    let value = part.checksums.get(alg).ok_or_else(|| {
        s3_error!(
            InvalidPart,
            "part {} carries no {alg} checksum, which this upload declared",
            part.part_number
        )
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| s3_error!(InternalError, "stored part checksum is not base64"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The object's checksum from its `parts` (in order), or `None` when the
/// upload declared no algorithm.
pub fn object_checksum(alg: &str, ty: &str, parts: &[&PartRecord]) -> S3Result<Option<String>> {
    if alg.is_empty() {
        return Ok(None);
    }
    let raw = parts
        .iter()
        .map(|p| decode(p, alg))
        .collect::<S3Result<Vec<_>>>()?;
    if ty == FULL_OBJECT {
        let (poly, width) = match alg {
            "CRC32" => (0xEDB8_8320, 32),
            "CRC32C" => (0x82F6_3B78, 32),
            "CRC64NVME" => (0x9A6C_9329_AC4B_C9B5, 64),
            _ => return Err(s3_error!(InternalError, "FULL_OBJECT with {alg}")),
        };
        let mut crc: Option<u64> = None;
        for (p, bytes) in parts.iter().zip(&raw) {
            let mut be = [0u8; 8];
            let n = bytes.len().min(8);
            be[8 - n..].copy_from_slice(&bytes[..n]);
            let part = u64::from_be_bytes(be);
            crc = Some(match crc {
                None => part,
                Some(c) => crc_combine(c, part, p.size, poly, width),
            });
        }
        let value = crc.unwrap_or(0).to_be_bytes();
        return Ok(Some(b64(&value[8 - width / 8..])));
    }
    let joined: Vec<u8> = raw.concat();
    let digest: Vec<u8> = match alg {
        "CRC32" => Crc32::checksum(&joined).as_ref().to_vec(),
        "CRC32C" => Crc32c::checksum(&joined).as_ref().to_vec(),
        "SHA1" => Sha1::checksum(&joined).as_ref().to_vec(),
        "SHA256" => Sha256::checksum(&joined).as_ref().to_vec(),
        "CRC64NVME" => Crc64Nvme::checksum(&joined).as_ref().to_vec(),
        _ => return Err(s3_error!(InternalError, "unknown checksum algorithm {alg}")),
    };
    Ok(Some(format!("{}-{}", b64(&digest), parts.len())))
}

/// Multiplies the GF(2) matrix `mat` (one column per bit) by `vec`.
fn gf2_times(mat: &[u64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 == 1 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64], mat: &[u64]) {
    for (n, s) in square.iter_mut().enumerate() {
        *s = gf2_times(mat, mat[n]);
    }
}

/// The CRC of `A ++ B` from `crc(A)`, `crc(B)` and `B`'s length, for a
/// reflected CRC of `width` bits with all-ones init and final xor (CRC32,
/// CRC32C, CRC64/NVME): the zeros-operator method of zlib's
/// `crc32_combine`, for any such polynomial.
fn crc_combine(crc1: u64, crc2: u64, mut len2: u64, poly: u64, width: usize) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    let mut odd = vec![0u64; width];
    let mut even = vec![0u64; width];
    // The operator for one zero bit.
    odd[0] = poly;
    let mut row = 1u64;
    for o in odd.iter_mut().skip(1) {
        *o = row;
        row <<= 1;
    }
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four
    let mut crc1 = crc1;
    // Apply len2 zero bytes to crc1, squaring the operator each bit of len2.
    loop {
        gf2_square(&mut even, &odd);
        if len2 & 1 == 1 {
            crc1 = gf2_times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len2 & 1 == 1 {
            crc1 = gf2_times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, alg: &str, data: &[u8]) -> PartRecord {
        let sum = match alg {
            "CRC32" => Crc32::checksum(data).to_vec(),
            "CRC32C" => Crc32c::checksum(data).to_vec(),
            "CRC64NVME" => Crc64Nvme::checksum(data).to_vec(),
            "SHA256" => Sha256::checksum(data).to_vec(),
            _ => unreachable!("test algorithm"),
        };
        PartRecord {
            part_number: n,
            size: data.len() as u64,
            checksums: [(alg.to_string(), b64(&sum))].into(),
            ..Default::default()
        }
    }

    #[test]
    fn full_object_crcs_equal_the_crc_of_the_whole() {
        let a: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let b: Vec<u8> = (0..12_345u32).map(|i| (i * 13) as u8).collect();
        let c = b"tail".to_vec();
        let whole = [a.clone(), b.clone(), c.clone()].concat();
        for (alg, want) in [
            ("CRC32", Crc32::checksum(&whole).to_vec()),
            ("CRC32C", Crc32c::checksum(&whole).to_vec()),
            ("CRC64NVME", Crc64Nvme::checksum(&whole).to_vec()),
        ] {
            let parts = [part(1, alg, &a), part(2, alg, &b), part(3, alg, &c)];
            let refs: Vec<&PartRecord> = parts.iter().collect();
            let got = object_checksum(alg, FULL_OBJECT, &refs).expect("combines");
            assert_eq!(got, Some(b64(&want)), "{alg}");
        }
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let parts = [part(1, "SHA256", b"one"), part(2, "SHA256", b"two")];
        let refs: Vec<&PartRecord> = parts.iter().collect();
        let got = object_checksum("SHA256", COMPOSITE, &refs)
            .expect("composite")
            .expect("declared");
        let joined = [Sha256::checksum(b"one"), Sha256::checksum(b"two")].concat();
        assert_eq!(got, format!("{}-2", b64(&Sha256::checksum(&joined))));
        // A part without the declared checksum.
        let bare = PartRecord {
            part_number: 3,
            ..Default::default()
        };
        let e = object_checksum("SHA256", COMPOSITE, &[&parts[0], &bare]).expect_err("missing");
        assert_eq!(e.code().as_str(), "InvalidPart");
        assert_eq!(object_checksum("", "", &refs).ok(), Some(None));
    }

    #[test]
    fn declared_types() {
        let alg = |a: &str| ChecksumAlgorithm::from(a.to_string());
        let ty = |t: &str| ChecksumType::from(t.to_string());
        assert_eq!(
            declared(Some(&alg("crc32")), None).ok(),
            Some(("CRC32".into(), COMPOSITE.into()))
        );
        assert_eq!(
            declared(Some(&alg("CRC64NVME")), None).ok(),
            Some(("CRC64NVME".into(), FULL_OBJECT.into()))
        );
        assert_eq!(
            declared(Some(&alg("CRC32C")), Some(&ty("FULL_OBJECT"))).ok(),
            Some(("CRC32C".into(), FULL_OBJECT.into()))
        );
        assert!(declared(Some(&alg("SHA256")), Some(&ty("FULL_OBJECT"))).is_err());
        assert!(declared(Some(&alg("CRC64NVME")), Some(&ty("COMPOSITE"))).is_err());
        assert!(declared(None, Some(&ty("COMPOSITE"))).is_err());
        assert!(declared(Some(&alg("MD5")), None).is_err());
        assert_eq!(
            declared(None, None).ok(),
            Some((String::new(), String::new()))
        );
    }
}
