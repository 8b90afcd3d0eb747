//! Export to DataCite (Metadata Schema 4.5, as the JSON `attributes` of
//! DataCite's REST API), the community standard for dataset description
//! and citation: what AI-readiness level 3 asks ("harmonised with community
//! standards"). The mapping is documented field by field in
//! `docs/metadata/datacite.md`; what the packages leave out and the
//! catalogue knows (sizes, formats, the manifest's hash, the publication)
//! comes from [`Facts`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::{MetadataError, Package};

/// What the catalogue knows of the dataset, beside its packages.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The dataset's name in Meridian.
    pub name: String,
    /// The dataset's own DOI, if one was minted (else the dataset package's
    /// `identifier`).
    pub doi: Option<String>,
    /// The publication a paper dataset is bound to (a DOI, or scheme:id).
    pub publication: Option<String>,
    pub publisher: String,
    /// The year it was published (or created, before publication).
    pub year: i32,
    pub files: u64,
    pub bytes: u64,
    /// Media types of its files, recognised from their bytes.
    pub formats: Vec<String>,
    /// `blake3:<hex>` of a published dataset's manifest.
    pub manifest: Option<String>,
}

/// The DataCite attributes of a dataset described by `docs` (package ->
/// validated document). DataCite requires identifier-independent fields
/// (titles, creators, publisher, publication year, resource type): without
/// a dataset package, or a publisher, the refusal says what is missing.
pub fn export(docs: &BTreeMap<Package, Value>, facts: &Facts) -> Result<Value, MetadataError> {
    let mut missing = Vec::new();
    let ds = docs.get(&Package::Dataset);
    if ds.is_none() {
        missing.push("the dataset package (titles, creators, description)".to_string());
    }
    if facts.publisher.trim().is_empty() {
        missing.push("a publisher".to_string());
    }
    if !missing.is_empty() {
        return Err(MetadataError::NotExportable {
            standard: "DataCite",
            missing,
        });
    }
    let ds = ds.cloned().unwrap_or_default();
    let sharing = docs.get(&Package::Sharing).cloned().unwrap_or_default();
    let results = docs.get(&Package::Results).cloned().unwrap_or_default();
    let mut a = Map::new();

    let doi = facts
        .doi
        .clone()
        .or_else(|| text(&ds, "/identifier").map(String::from));
    if let Some(d) = &doi {
        a.insert("doi".into(), json!(d));
    }
    let mut titles = vec![json!({ "title": text(&ds, "/title") })];
    for t in list(&ds, "/alternative_titles") {
        titles.push(json!({ "title": t, "titleType": "AlternativeTitle" }));
    }
    a.insert("titles".into(), json!(titles));
    a.insert(
        "creators".into(),
        json!(list(&ds, "/creators")
            .iter()
            .map(|p| person(p, None))
            .collect::<Vec<_>>()),
    );
    a.insert("publisher".into(), json!({ "name": facts.publisher }));
    a.insert("publicationYear".into(), json!(facts.year));
    let mut types = json!({ "resourceTypeGeneral": "Dataset" });
    if let Some(c) = text(&sharing, "/resource_category") {
        types["resourceType"] = json!(c);
    }
    a.insert("types".into(), types);

    let mut subjects: Vec<Value> = list(&ds, "/subject_areas")
        .iter()
        .map(|s| json!({ "subject": s }))
        .collect();
    subjects.extend(
        list(&ds, "/keywords")
            .iter()
            .map(|k| json!({ "subject": k })),
    );
    if !subjects.is_empty() {
        a.insert("subjects".into(), json!(subjects));
    }
    let contributors: Vec<Value> = list(&sharing, "/contributors")
        .iter()
        .map(|p| person(p, text(p, "/role")))
        .collect();
    if !contributors.is_empty() {
        a.insert("contributors".into(), json!(contributors));
    }
    let mut dates = Vec::new();
    if let Some(d) = text(&ds, "/created") {
        dates.push(json!({ "date": d, "dateType": "Created" }));
    }
    if let Some(start) = text(&ds, "/time_coverage/start") {
        let range = match text(&ds, "/time_coverage/end") {
            Some(end) => format!("{start}/{end}"),
            None => start.to_string(),
        };
        dates.push(json!({ "date": range, "dateType": "Collected" }));
    }
    if let Some(d) = text(&sharing, "/access/embargo_until") {
        dates.push(json!({ "date": d, "dateType": "Available" }));
    }
    if !dates.is_empty() {
        a.insert("dates".into(), json!(dates));
    }
    if let Some(l) = text(&ds, "/language") {
        a.insert("language".into(), json!(l));
    }
    let mut alternate = vec![json!({
        "alternateIdentifier": facts.name,
        "alternateIdentifierType": "Meridian dataset name",
    })];
    if let Some(m) = &facts.manifest {
        alternate.push(json!({
            "alternateIdentifier": m,
            "alternateIdentifierType": "Meridian manifest BLAKE3",
        }));
    }
    a.insert("alternateIdentifiers".into(), json!(alternate));

    let mut related = Vec::new();
    if let Some(p) = &facts.publication {
        related.push(related_id(p, "IsSupplementTo"));
    }
    for p in list(&results, "/publications") {
        if let Some(id) = text(p, "/identifier") {
            let relation = text(p, "/relation").unwrap_or("IsReferencedBy");
            if facts.publication.as_deref() != Some(id) {
                related.push(related_id(id, relation));
            }
        }
    }
    if !related.is_empty() {
        a.insert("relatedIdentifiers".into(), json!(related));
    }
    a.insert(
        "sizes".into(),
        json!([
            format!("{} files", facts.files),
            format!("{} bytes", facts.bytes)
        ]),
    );
    if !facts.formats.is_empty() {
        a.insert("formats".into(), json!(facts.formats));
    }
    if let Some(v) = text(&ds, "/version") {
        a.insert("version".into(), json!(v));
    }
    if let Some(l) = text(&sharing, "/license").or_else(|| text(&ds, "/license")) {
        a.insert("rightsList".into(), json!([rights(l)]));
    }
    if let Some(d) = text(&ds, "/description") {
        a.insert(
            "descriptions".into(),
            json!([{ "description": d, "descriptionType": "Abstract" }]),
        );
    }
    Ok(Value::Object(a))
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn list<'a>(v: &'a Value, pointer: &str) -> Vec<&'a Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A creator or contributor: personal unless it names a group.
fn person(p: &Value, role: Option<&str>) -> Value {
    let name = p.as_str().or_else(|| text(p, "/name")).unwrap_or_default();
    let group = role.is_some_and(|r| {
        matches!(
            r,
            "ResearchGroup" | "HostingInstitution" | "Sponsor" | "Distributor"
        )
    });
    let mut out = json!({
        "name": name,
        "nameType": if group { "Organizational" } else { "Personal" },
    });
    if let Some(r) = role {
        out["contributorType"] = json!(r);
    }
    if let Some(a) = text(p, "/affiliation") {
        out["affiliation"] = json!([{ "name": a }]);
    }
    if let Some(o) = text(p, "/orcid") {
        out["nameIdentifiers"] = json!([{
            "nameIdentifier": format!("https://orcid.org/{o}"),
            "nameIdentifierScheme": "ORCID",
            "schemeUri": "https://orcid.org",
        }]);
    }
    out
}

fn related_id(id: &str, relation: &str) -> Value {
    let (kind, value) = if id.starts_with("10.") {
        ("DOI", id.to_string())
    } else if let Some(rest) = id.strip_prefix("arXiv:") {
        ("arXiv", rest.to_string())
    } else if let Some(rest) = id.strip_prefix("hdl:") {
        ("Handle", rest.to_string())
    } else {
        ("URN", id.to_string())
    };
    json!({
        "relatedIdentifier": value,
        "relatedIdentifierType": kind,
        "relationType": relation,
    })
}

/// A licence: an SPDX identifier gets its SPDX reference, a URL is the URI.
fn rights(l: &str) -> Value {
    if l.starts_with("http://") || l.starts_with("https://") {
        json!({ "rights": l, "rightsUri": l })
    } else {
        json!({
            "rights": l,
            "rightsIdentifier": l,
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(p: Package) -> Value {
        let path = format!(
            "{}/../docs/metadata/examples/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            p.name()
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        crate::validate(p, &text).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn facts() -> Facts {
        Facts {
            name: "juno-run42".into(),
            publication: Some("arXiv:2401.01234".into()),
            publisher: "National High Energy Physics Science Data Center".into(),
            year: 2026,
            files: 30,
            bytes: 222_640_000_000,
            formats: vec!["application/x-root".into()],
            manifest: Some(format!("blake3:{}", "ab".repeat(32))),
            ..Default::default()
        }
    }

    #[test]
    fn the_published_examples_export_to_datacite() {
        let docs: BTreeMap<Package, Value> =
            Package::ALL.into_iter().map(|p| (p, example(p))).collect();
        let a = export(&docs, &facts()).expect("export");
        assert_eq!(
            a["titles"][0]["title"],
            "JUNO commissioning run 42, raw waveforms"
        );
        assert_eq!(a["creators"][0]["nameType"], "Personal");
        assert_eq!(
            a["creators"][0]["nameIdentifiers"][0]["nameIdentifier"],
            "https://orcid.org/0000-0002-1825-0097"
        );
        assert_eq!(a["creators"][0]["affiliation"][0]["name"], "IHEP, CAS");
        assert_eq!(
            a["types"],
            json!({ "resourceTypeGeneral": "Dataset", "resourceType": "raw" })
        );
        assert_eq!(a["publicationYear"], 2026);
        assert_eq!(a["contributors"][0]["contributorType"], "DataCollector");
        assert_eq!(
            a["dates"],
            json!([
                { "date": "2026-11-30", "dateType": "Created" },
                { "date": "2026-11-30T08:00:00Z/2026-11-30T20:00:00Z", "dateType": "Collected" },
                { "date": "2028-01-01", "dateType": "Available" },
            ])
        );
        assert_eq!(
            a["relatedIdentifiers"][0],
            json!({
                "relatedIdentifier": "2401.01234", "relatedIdentifierType": "arXiv", "relationType": "IsSupplementTo"
            })
        );
        assert_eq!(a["relatedIdentifiers"][1]["relatedIdentifierType"], "DOI");
        assert_eq!(a["relatedIdentifiers"][1]["relationType"], "IsCitedBy");
        assert_eq!(
            a["alternateIdentifiers"][1]["alternateIdentifierType"],
            "Meridian manifest BLAKE3"
        );
        assert_eq!(a["sizes"], json!(["30 files", "222640000000 bytes"]));
        assert_eq!(a["rightsList"][0]["rightsIdentifierScheme"], "SPDX");
        assert_eq!(a["descriptions"][0]["descriptionType"], "Abstract");
        assert!(a.get("doi").is_none(), "no DOI was minted or given");
    }

    #[test]
    fn what_datacite_requires_is_named_when_missing() {
        let r = export(&BTreeMap::new(), &Facts::default());
        match r {
            Err(MetadataError::NotExportable { missing, .. }) => {
                assert_eq!(missing.len(), 2, "{missing:?}");
                assert!(missing[0].contains("dataset package"));
            }
            other => panic!("{other:?}"),
        }
        // The dataset package alone, with a DOI of its own, is enough.
        let docs = BTreeMap::from([(Package::Dataset, example(Package::Dataset))]);
        let mut f = facts();
        f.doi = Some("10.5281/zenodo.1234567".into());
        f.publication = None;
        let a = export(&docs, &f).expect("export");
        assert_eq!(a["doi"], "10.5281/zenodo.1234567");
        assert_eq!(a["types"], json!({ "resourceTypeGeneral": "Dataset" }));
        assert!(a.get("relatedIdentifiers").is_none());
    }
}
