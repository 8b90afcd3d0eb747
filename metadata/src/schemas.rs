//! The published schemas, compiled once, and validation against them.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

use crate::{MetadataError, Package};

/// The largest document a package may be (a data dictionary, not data).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The most field errors a refusal lists.
const MAX_ERRORS: usize = 20;

/// One field at fault: where (a JSON pointer into the document; empty for
/// the document itself) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.field.is_empty() {
            "/"
        } else {
            &self.field
        };
        write!(f, "{at}: {}", self.message)
    }
}

fn source(p: Package) -> &'static str {
    match p {
        Package::Dataset => include_str!("../../docs/metadata/dataset.v1.schema.json"),
        Package::Sample => include_str!("../../docs/metadata/sample.v1.schema.json"),
        Package::Experiment => include_str!("../../docs/metadata/experiment.v1.schema.json"),
        Package::Preprocessing => include_str!("../../docs/metadata/preprocessing.v1.schema.json"),
        Package::Sharing => include_str!("../../docs/metadata/sharing.v1.schema.json"),
        Package::Results => include_str!("../../docs/metadata/results.v1.schema.json"),
    }
}

type Compiled = Result<Validator, String>;

fn compiled(p: Package) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; 6] = [const { OnceLock::new() }; 6];
    let i = Package::ALL.iter().position(|q| *q == p).unwrap_or(0);
    CELLS[i].get_or_init(|| {
        let schema: Value = serde_json::from_str(source(p)).map_err(|e| e.to_string())?;
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| e.to_string())
    })
}

/// Parses and validates `text` as a `package` document; the refusal names
/// every field at fault (up to twenty).
pub fn validate(package: Package, text: &str) -> Result<Value, MetadataError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(MetadataError::TooLarge {
            package,
            size: text.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| MetadataError::NotJson {
        package,
        message: e.to_string(),
    })?;
    let validator = compiled(package)
        .as_ref()
        .map_err(|message| MetadataError::Schema {
            package,
            message: message.clone(),
        })?;
    let errors: Vec<FieldError> = validator
        .iter_errors(&doc)
        .take(MAX_ERRORS)
        .map(|e| FieldError {
            field: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect();
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(MetadataError::Invalid {
            package,
            version: package.version(),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(p: Package) -> String {
        let path = format!(
            "{}/../docs/metadata/examples/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            p.name()
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn invalid(p: Package, text: &str) -> Vec<FieldError> {
        match validate(p, text) {
            Err(MetadataError::Invalid { errors, .. }) => errors,
            other => panic!("{p}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn every_schema_compiles_and_its_published_example_is_valid() {
        for p in Package::ALL {
            assert!(compiled(p).is_ok(), "{p}: {:?}", compiled(p).as_ref().err());
            validate(p, &example(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn a_refusal_names_each_field_at_fault() {
        let errs = invalid(
            Package::Dataset,
            r#"{"title": "", "description": "d", "creators": [{"name": "A", "orcid": "1234"}], "colour": 1}"#,
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"/title"), "{errs:?}");
        assert!(fields.contains(&"/creators/0/orcid"), "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.field.is_empty() && e.message.contains("colour")),
            "an unknown field is named: {errs:?}"
        );
        let missing = invalid(Package::Experiment, r#"{"subject": {"title": "t"}}"#);
        let text = missing
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("detector") && text.contains("acquisition"),
            "{text}"
        );
        // Formats are checked, not only shapes.
        let bad_date = invalid(
            Package::Experiment,
            r#"{"subject": {"title": "t"}, "detector": {"name": "d"}, "acquisition": {"start": "yesterday"}}"#,
        );
        assert_eq!(bad_date[0].field, "/acquisition/start", "{bad_date:?}");
        let role = invalid(
            Package::Sharing,
            r#"{"resource_category": "raw", "contributors": [{"name": "n", "role": "Boss"}], "submission": {"submitter": {"name": "s"}}}"#,
        );
        assert_eq!(role[0].field, "/contributors/0/role", "{role:?}");
        // An empty results package says nothing and is refused.
        assert!(!invalid(Package::Results, "{}").is_empty());
    }

    #[test]
    fn not_json_too_large_and_unknown_packages_are_refused() {
        assert!(matches!(
            validate(Package::Sample, "{not json"),
            Err(MetadataError::NotJson { .. })
        ));
        let big = format!(
            r#"{{"samples": [{{"id": "{}"}}]}}"#,
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        assert!(matches!(
            validate(Package::Sample, &big),
            Err(MetadataError::TooLarge { .. })
        ));
        assert!(Package::parse("samples").is_err());
        assert_eq!(Package::parse("sharing"), Ok(Package::Sharing));
        let many = format!(
            r#"{{"samples": [{}]}}"#,
            vec![r#"{"mass_mg": -1}"#; 50].join(",")
        );
        assert_eq!(invalid(Package::Sample, &many).len(), MAX_ERRORS);
    }
}
