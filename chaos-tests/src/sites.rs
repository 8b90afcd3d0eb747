//! The five sites of `meridian dev`, in the order their S3 ports are laid out.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    Beijing,
    Huairou,
    Dongguan,
    Daocheng,
    Jiangmen,
}

impl Site {
    /// In port order: the S3 endpoint of `ALL[i]` is the base port + i.
    pub const ALL: [Site; 5] = [
        Site::Beijing,
        Site::Huairou,
        Site::Dongguan,
        Site::Daocheng,
        Site::Jiangmen,
    ];

    pub fn index(self) -> u16 {
        match self {
            Site::Beijing => 0,
            Site::Huairou => 1,
            Site::Dongguan => 2,
            Site::Daocheng => 3,
            Site::Jiangmen => 4,
        }
    }

    /// The name as the server spells it (directory names, `meridianctl` output).
    pub fn name(self) -> &'static str {
        match self {
            Site::Beijing => "Beijing",
            Site::Huairou => "Huairou",
            Site::Dongguan => "Dongguan",
            Site::Daocheng => "Daocheng",
            Site::Jiangmen => "Jiangmen",
        }
    }

    /// Matches `meridianctl` output case-insensitively, so a change of case
    /// in the CLI does not read as a missing replica.
    pub fn from_name(name: &str) -> Option<Site> {
        Site::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
