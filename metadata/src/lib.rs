//! The six metadata packages of the national standard for photon and
//! radiation experiment data (dataset, sample, experiment, preprocessing,
//! sharing, results), each a published JSON Schema in `docs/metadata/`
//! (versioned: `<package>.v<N>.schema.json`). A document is validated
//! against exactly the published schema before it is stored, and a refusal
//! names every field at fault by its JSON pointer.
//!
//! Also what can be known without anyone typing it ([`formats`] recognises
//! a file's format by its magic bytes), and the export to the community
//! standard for datasets ([`datacite`]).
//!
//! Pure: no IO; the schemas are compiled into the binary.

pub mod datacite;
pub mod formats;
mod schemas;

pub use schemas::{validate, FieldError, MAX_DOCUMENT_BYTES};

/// A metadata package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Package {
    /// 数据集信息包: title, description, creators, subject, licence.
    Dataset,
    /// 样品信息包: what was measured.
    Sample,
    /// 实验信息包: subject, detector configuration, environment, acquisition.
    Experiment,
    /// 预处理信息包: what was done to the data before it was kept.
    Preprocessing,
    /// 共享信息包: resource category, contributors, data files, submission.
    Sharing,
    /// 成果信息包: publications and what else came of the data.
    Results,
}

impl Package {
    pub const ALL: [Package; 6] = [
        Package::Dataset,
        Package::Sample,
        Package::Experiment,
        Package::Preprocessing,
        Package::Sharing,
        Package::Results,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Package::Dataset => "dataset",
            Package::Sample => "sample",
            Package::Experiment => "experiment",
            Package::Preprocessing => "preprocessing",
            Package::Sharing => "sharing",
            Package::Results => "results",
        }
    }

    /// The schema version documents are written against.
    pub fn version(self) -> u32 {
        1
    }

    pub fn parse(name: &str) -> Result<Package, MetadataError> {
        Package::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| MetadataError::UnknownPackage(name.to_string()))
    }
}

impl std::fmt::Display for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    #[error(
        "unknown metadata package {0:?} (dataset, sample, experiment, preprocessing, sharing, results)"
    )]
    UnknownPackage(String),
    #[error("the {package} package is not JSON: {message}")]
    NotJson { package: Package, message: String },
    #[error("the {package} package is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        package: Package,
        size: usize,
        max: usize,
    },
    #[error("the {package} package (schema v{version}) is not valid: {}", list(.errors))]
    Invalid {
        package: Package,
        version: u32,
        errors: Vec<FieldError>,
    },
    /// A standard's required fields that the packages and the catalogue
    /// do not supply.
    #[error("cannot export to {standard}: missing {}", .missing.join(", "))]
    NotExportable {
        standard: &'static str,
        missing: Vec<String>,
    },
    /// A published schema that does not compile: a defect of this build.
    #[error("the {package} schema does not compile: {message}")]
    Schema { package: Package, message: String },
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
