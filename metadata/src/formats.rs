//! File formats recognised by their magic bytes, so that a dataset's
//! formats are known without anyone typing them: the ones HEP, photon and
//! neutron facilities write (ROOT, HDF5 and NeXus on it, FITS, CBF, MRC),
//! the columnar ones analysis reads (Parquet, Arrow), and the containers and
//! compressors they arrive in. Only the first bytes of a file are needed
//! (HDF5's signature may sit after a user block, at 512, 1024 or 2048).

/// How many leading bytes [`detect`] looks at.
pub const HEAD_BYTES: usize = 4096;

/// A recognised format: a short name and its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub name: &'static str,
    pub media_type: &'static str,
}

const fn f(name: &'static str, media_type: &'static str) -> Format {
    Format { name, media_type }
}

/// Signatures at fixed offsets, most specific first.
const SIGNATURES: &[(usize, &[u8], Format)] = &[
    (0, b"root", f("ROOT", "application/x-root")),
    (0, b"\x89HDF\r\n\x1a\n", f("HDF5", "application/x-hdf5")),
    (512, b"\x89HDF\r\n\x1a\n", f("HDF5", "application/x-hdf5")),
    (1024, b"\x89HDF\r\n\x1a\n", f("HDF5", "application/x-hdf5")),
    (2048, b"\x89HDF\r\n\x1a\n", f("HDF5", "application/x-hdf5")),
    (0, b"SIMPLE  =", f("FITS", "application/fits")),
    (0, b"PAR1", f("Parquet", "application/vnd.apache.parquet")),
    (
        0,
        b"ARROW1",
        f("Arrow", "application/vnd.apache.arrow.file"),
    ),
    (0, b"CDF\x01", f("NetCDF", "application/x-netcdf")),
    (0, b"CDF\x02", f("NetCDF", "application/x-netcdf")),
    (0, b"CDF\x05", f("NetCDF", "application/x-netcdf")),
    (0, b"#ASDF", f("ASDF", "application/asdf")),
    (0, b"###CBF", f("CBF", "application/x-cbf")),
    (208, b"MAP ", f("MRC", "application/x-mrc")),
    (0, b"\x89PNG\r\n\x1a\n", f("PNG", "image/png")),
    (0, b"\xff\xd8\xff", f("JPEG", "image/jpeg")),
    (0, b"II*\x00", f("TIFF", "image/tiff")),
    (0, b"MM\x00*", f("TIFF", "image/tiff")),
    (0, b"%PDF-", f("PDF", "application/pdf")),
    (257, b"ustar", f("tar", "application/x-tar")),
    (0, b"PK\x03\x04", f("ZIP", "application/zip")),
    (0, b"\x1f\x8b", f("gzip", "application/gzip")),
    (0, b"\x28\xb5\x2f\xfd", f("zstd", "application/zstd")),
    (0, b"\xfd7zXZ\x00", f("xz", "application/x-xz")),
    (0, b"BZh", f("bzip2", "application/x-bzip2")),
    (0, b"\x04\x22\x4d\x18", f("LZ4", "application/x-lz4")),
];

/// The format of a file whose first bytes are `head` (up to
/// [`HEAD_BYTES`]); `None` when nothing is recognised.
pub fn detect(head: &[u8]) -> Option<Format> {
    SIGNATURES
        .iter()
        .find(|(at, magic, _)| head.get(*at..at + magic.len()) == Some(*magic))
        .map(|(_, _, format)| *format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: usize, magic: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; offset];
        v.extend_from_slice(magic);
        v.extend_from_slice(&[0u8; 64]);
        v
    }

    #[test]
    fn facility_formats_are_recognised() {
        let cases: &[(Vec<u8>, &str)] = &[
            (at(0, b"root\x00\x00\xf4\x4e"), "ROOT"),
            (at(0, b"\x89HDF\r\n\x1a\n"), "HDF5"),
            (at(512, b"\x89HDF\r\n\x1a\n"), "HDF5"),
            (at(2048, b"\x89HDF\r\n\x1a\n"), "HDF5"),
            (at(0, b"SIMPLE  =                    T"), "FITS"),
            (at(0, b"PAR1\x15\x04"), "Parquet"),
            (at(0, b"ARROW1\x00\x00"), "Arrow"),
            (at(0, b"CDF\x02"), "NetCDF"),
            (at(0, b"###CBF: VERSION"), "CBF"),
            (at(208, b"MAP DA\x00\x00"), "MRC"),
            (at(257, b"ustar\x0000"), "tar"),
            (at(0, b"\x28\xb5\x2f\xfd"), "zstd"),
            (at(0, b"\x1f\x8b\x08"), "gzip"),
        ];
        for (head, name) in cases {
            assert_eq!(detect(head).map(|f| f.name), Some(*name), "{name}");
        }
    }

    #[test]
    fn unknown_short_and_misplaced_bytes_are_not_guessed() {
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"roo"), None);
        assert_eq!(detect(b"plain text, nothing more"), None);
        // HDF5's signature only where the format puts it.
        assert_eq!(detect(&at(100, b"\x89HDF\r\n\x1a\n")), None);
        // A user block longer than the head we were given: not found, not
        // misread.
        assert_eq!(detect(&at(2048, b"\x89HDF")), None);
    }
}
