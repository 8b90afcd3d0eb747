//! A dataset's data card and AI-readiness report, computed from what the
//! catalogue knows (its record, metadata packages, files, replicas and
//! access), never typed in. Pure: the gateway gathers [`CardFacts`]; this
//! says them as JSON and Markdown, and rates the dataset on the brief's
//! three axes (consistency, access, metadata; levels 0-3), each with its
//! evidence and what the next level needs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::dataset::{citation_hash, DatasetKind, DatasetRecord};
use crate::records::ReplicaState;

/// What the files of a dataset add up to.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    pub files: u64,
    pub bytes: u64,
    /// Format name -> (files, bytes); `""`: not recognised.
    pub formats: BTreeMap<String, (u64, u64)>,
    /// Top-level directory (bucket/first segment/) -> (files, bytes).
    pub tree: BTreeMap<String, (u64, u64)>,
    pub first_created_ms: i64,
    pub last_created_ms: i64,
    /// Site name -> files with a complete replica there.
    pub complete_at: BTreeMap<String, u64>,
    /// Replicas by state, over all files.
    pub replicas: BTreeMap<&'static str, u64>,
    /// Files every replica of which is complete.
    pub fully_replicated: u64,
    /// Attached files that are gone.
    pub missing: u64,
    /// The walk stopped at its bound: the figures cover part.
    pub truncated: bool,
}

impl FileFacts {
    /// Adds one file.
    pub fn add(
        &mut self,
        bucket: &str,
        key: &str,
        rec: &crate::records::ObjectRecord,
        site_name: impl Fn(u32) -> String,
    ) {
        self.files += 1;
        self.bytes += rec.size;
        let f = self.formats.entry(rec.file_format.clone()).or_default();
        f.0 += 1;
        f.1 += rec.size;
        let dir = match key.split_once('/') {
            Some((first, _)) => format!("{bucket}/{first}/"),
            None => format!("{bucket}/"),
        };
        let d = self.tree.entry(dir).or_default();
        d.0 += 1;
        d.1 += rec.size;
        if self.first_created_ms == 0 || rec.created_ms < self.first_created_ms {
            self.first_created_ms = rec.created_ms;
        }
        self.last_created_ms = self.last_created_ms.max(rec.created_ms);
        for s in rec.complete_sites() {
            *self.complete_at.entry(site_name(s)).or_default() += 1;
        }
        for r in &rec.replicas {
            *self.replicas.entry(r.state.name()).or_default() += 1;
        }
        if !rec.replicas.is_empty()
            && rec
                .replicas
                .iter()
                .all(|r| r.state == ReplicaState::Complete)
        {
            self.fully_replicated += 1;
        }
    }

    fn damaged(&self) -> u64 {
        self.replicas.get("suspect").copied().unwrap_or(0)
            + self.replicas.get("lost").copied().unwrap_or(0)
    }
}

/// Everything a card says.
#[derive(Debug, Clone)]
pub struct CardFacts {
    pub dataset: DatasetRecord,
    /// Package name -> document.
    pub packages: BTreeMap<String, Value>,
    pub files: FileFacts,
    /// How the data is reached: S3 endpoints by site, the gRPC endpoint.
    pub s3_endpoints: BTreeMap<String, String>,
    pub grpc_endpoint: String,
    /// Whether the packages export to DataCite, or what it lacks.
    pub datacite: Result<(), String>,
    /// Reads of its files so far, and distinct readers.
    pub reads: u64,
    pub readers: u64,
    /// Whether an automated scrub or audit report covers its files.
    pub scrub_report: bool,
}

/// One axis's level, why, and what the next level needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub axis: &'static str,
    pub level: u8,
    pub evidence: Vec<String>,
    pub next: Option<String>,
}

/// The dataset's AI-readiness on the brief's three axes.
pub fn readiness(f: &CardFacts) -> Vec<Rating> {
    vec![consistency(f), access(f), metadata(f)]
}

fn consistency(f: &CardFacts) -> Rating {
    let ff = &f.files;
    let mut evidence = vec![
        "every chunk is BLAKE3-addressed and checked when written, copied and read (automatic)"
            .to_string(),
    ];
    let mut level = 2;
    if ff.damaged() > 0 {
        evidence.push(format!("{} replicas suspect or lost", ff.damaged()));
    }
    if ff.missing > 0 {
        evidence.push(format!("{} attached files are gone", ff.missing));
        level = 1;
    }
    if let Some(p) = &f.dataset.published {
        evidence.push(format!(
            "published manifest of {} files, citable and checkable by anyone as {}",
            p.files,
            citation_hash(&p.manifest_hash)
        ));
    }
    let next = if level < 2 {
        Some("detach or restore the attached files that are gone".to_string())
    } else if !f.scrub_report {
        Some(
            "automated reports of the stored copies (periodic scrub and audit, not yet run on this dataset)"
                .to_string(),
        )
    } else if f.dataset.published.is_none() {
        Some(
            "a published manifest others can check the files against (external consistency)".into(),
        )
    } else if ff.damaged() > 0 {
        Some("repair of the suspect and lost replicas".to_string())
    } else {
        None
    };
    if next.is_none() {
        level = 3;
    }
    Rating {
        axis: "consistency",
        level,
        evidence,
        next,
    }
}

fn access(f: &CardFacts) -> Rating {
    let ff = &f.files;
    let mut evidence = vec![
        format!(
            "S3 API at {} sites (aws CLI, boto3, rclone; presigned download URLs)",
            f.s3_endpoints.len()
        ),
        "gRPC API with verified streaming reads".to_string(),
    ];
    let multi_site =
        ff.files > 0 && ff.complete_at.values().filter(|n| **n == ff.files).count() >= 2;
    if multi_site {
        evidence.push(format!(
            "every file complete at {} sites ({}), served near the compute that reads it",
            ff.complete_at.values().filter(|n| **n == ff.files).count(),
            ff.complete_at
                .iter()
                .filter(|(_, n)| **n == ff.files)
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (level, next) = if ff.files == 0 {
        (0, Some("files in the dataset".to_string()))
    } else if multi_site {
        (3, None)
    } else {
        (
            2,
            Some("every file complete at two or more sites (data as a service where it is computed on)".into()),
        )
    };
    Rating {
        axis: "access",
        level,
        evidence,
        next,
    }
}

fn metadata(f: &CardFacts) -> Rating {
    let mut evidence = vec![
        "sizes, counts, formats, times and placement harvested from storage (machine-readable)"
            .to_string(),
    ];
    let mut level = 1;
    let mut next = Some(
        "the dataset metadata package (title, description, creators), validated against its schema"
            .to_string(),
    );
    if f.packages.contains_key("dataset") {
        level = 2;
        evidence.push(format!(
            "metadata packages validated against published JSON Schemas: {}",
            f.packages.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        next = match &f.datacite {
            Ok(()) => None,
            Err(why) => Some(format!("an export to DataCite, which now lacks: {why}")),
        };
        if next.is_none() {
            level = 3;
            evidence.push("exports to DataCite 4.5 (a community standard)".into());
        }
    }
    Rating {
        axis: "metadata",
        level,
        evidence,
        next,
    }
}

fn ratings_json(r: &[Rating]) -> Value {
    json!(r
        .iter()
        .map(|x| json!({"axis": x.axis, "level": x.level, "evidence": x.evidence, "next": x.next}))
        .collect::<Vec<_>>())
}

fn text_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |at, p| at.get(*p))?.as_str()
}

/// The card as JSON.
pub fn card_json(f: &CardFacts) -> Value {
    let d = &f.dataset;
    let ff = &f.files;
    let ds = f.packages.get("dataset").cloned().unwrap_or(Value::Null);
    json!({
        "name": d.name,
        "title": text_at(&ds, &["title"]),
        "description": text_at(&ds, &["description"]).unwrap_or(&d.description),
        "kind": d.kind.name(),
        "facility": match &d.kind { DatasetKind::Facility { facility, .. } => Some(facility.as_str()), _ => text_at(&ds, &["facility"]) },
        "experiment": f.packages.get("experiment"),
        "method": f.packages.get("preprocessing"),
        "state": d.state.name(),
        "owner": d.owner,
        "files": {
            "count": ff.files, "bytes": ff.bytes, "missing": ff.missing, "truncated": ff.truncated,
            "formats": ff.formats.iter().map(|(k, (n, b))| json!({"format": if k.is_empty() { "unrecognised" } else { k }, "files": n, "bytes": b})).collect::<Vec<_>>(),
            "tree": ff.tree.iter().map(|(k, (n, b))| json!({"path": k, "files": n, "bytes": b})).collect::<Vec<_>>(),
            "first_written": (ff.first_created_ms > 0).then(|| crate::clock::rfc3339(ff.first_created_ms)),
            "last_written": (ff.last_created_ms > 0).then(|| crate::clock::rfc3339(ff.last_created_ms)),
        },
        "placement": { "complete_at": ff.complete_at, "replicas": ff.replicas, "fully_replicated_files": ff.fully_replicated },
        "metadata_packages": f.packages.keys().collect::<Vec<_>>(),
        "access": {
            "s3": f.s3_endpoints, "grpc": f.grpc_endpoint,
            "how": "meridianctl dataset files NAME; aws s3 cp s3://BUCKET/KEY .; aws s3 presign s3://BUCKET/KEY",
            "reads": f.reads, "distinct_readers": f.readers,
        },
        "citation": d.published.as_ref().map(|p| json!({
            "manifest": citation_hash(&p.manifest_hash), "published": crate::clock::rfc3339(p.published_ms),
            "publication": match &d.kind { DatasetKind::Paper { publication } => Some(publication.as_str()), _ => None },
        })),
        "ai_readiness": ratings_json(&readiness(f)),
    })
}

/// The card as Markdown.
pub fn card_markdown(f: &CardFacts) -> String {
    let d = &f.dataset;
    let ff = &f.files;
    let ds = f.packages.get("dataset").cloned().unwrap_or(Value::Null);
    let mut m = String::new();
    let title = text_at(&ds, &["title"]).unwrap_or(&d.name);
    m.push_str(&format!(
        "# {title}\n\n`{}`: a {} dataset, {}, owned by {}.\n\n",
        d.name,
        d.kind.name(),
        d.state.name(),
        d.owner
    ));
    let desc = text_at(&ds, &["description"]).unwrap_or(&d.description);
    if !desc.is_empty() {
        m.push_str(&format!("{desc}\n\n"));
    }
    m.push_str("## Facility and experiment\n\n");
    if let DatasetKind::Facility { facility, .. } = &d.kind {
        m.push_str(&format!("- Facility: {facility}\n"));
    } else if let Some(fac) = text_at(&ds, &["facility"]) {
        m.push_str(&format!("- Facility: {fac}\n"));
    }
    match f.packages.get("experiment") {
        Some(e) => {
            for (label, path) in [
                ("Subject", &["subject", "title"][..]),
                ("Detector", &["detector", "name"][..]),
                ("Acquisition mode", &["acquisition", "mode"][..]),
                ("Acquisition start", &["acquisition", "start"][..]),
            ] {
                if let Some(v) = text_at(e, path) {
                    m.push_str(&format!("- {label}: {v}\n"));
                }
            }
        }
        None => m.push_str("- (no experiment package)\n"),
    }
    m.push_str("\n## Method\n\n");
    match f
        .packages
        .get("preprocessing")
        .and_then(|p| p.get("steps"))
        .and_then(Value::as_array)
    {
        Some(steps) => {
            for s in steps {
                let name = text_at(s, &["name"]).unwrap_or("step");
                let sw = text_at(s, &["software"]).unwrap_or("");
                m.push_str(&format!("1. {name} {sw}\n"));
            }
        }
        None => m.push_str("(no preprocessing package)\n"),
    }
    m.push_str(&format!(
        "\n## Files\n\n{} files, {}{}{}.\n\n| path | files | size |\n| --- | ---: | ---: |\n",
        ff.files,
        crate::units::human_bytes(ff.bytes),
        if ff.missing > 0 {
            format!(", {} attached files gone", ff.missing)
        } else {
            String::new()
        },
        if ff.truncated {
            " (the first 100,000 counted)"
        } else {
            ""
        }
    ));
    for (p, (n, b)) in &ff.tree {
        m.push_str(&format!(
            "| {p} | {n} | {} |\n",
            crate::units::human_bytes(*b)
        ));
    }
    m.push_str("\n| format | files | size |\n| --- | ---: | ---: |\n");
    for (k, (n, b)) in &ff.formats {
        let k = if k.is_empty() { "unrecognised" } else { k };
        m.push_str(&format!(
            "| {k} | {n} | {} |\n",
            crate::units::human_bytes(*b)
        ));
    }
    if ff.first_created_ms > 0 {
        m.push_str(&format!(
            "\nWritten from {} to {}.\n",
            crate::clock::rfc3339(ff.first_created_ms),
            crate::clock::rfc3339(ff.last_created_ms)
        ));
    }
    m.push_str("\n## Placement and integrity\n\n");
    for (s, n) in &ff.complete_at {
        m.push_str(&format!("- {s}: {n} of {} files complete\n", ff.files));
    }
    let states: Vec<String> = ff
        .replicas
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    m.push_str(&format!(
        "- Replicas: {}\n",
        if states.is_empty() {
            "none".into()
        } else {
            states.join(", ")
        }
    ));
    m.push_str("- Every chunk is BLAKE3-checked when written, copied and read.\n");
    m.push_str(&format!(
        "\n## Metadata\n\nPackages: {}.\n",
        if f.packages.is_empty() {
            "none".to_string()
        } else {
            f.packages.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    ));
    m.push_str("\n## Access\n\n");
    for (site, ep) in &f.s3_endpoints {
        m.push_str(&format!("- S3 at {site}: `{ep}`\n"));
    }
    m.push_str(&format!("- gRPC: `{}`\n- Files: `meridianctl dataset files {}`; a presigned download: `aws s3 presign s3://BUCKET/KEY`\n- Read {} times by {} users so far\n", f.grpc_endpoint, d.name, f.reads, f.readers));
    m.push_str("\n## Citation\n\n");
    match &d.published {
        Some(p) => {
            m.push_str(&format!(
                "Published {}; manifest `{}`",
                crate::clock::rfc3339(p.published_ms),
                citation_hash(&p.manifest_hash)
            ));
            if let DatasetKind::Paper { publication } = &d.kind {
                m.push_str(&format!(", with publication {publication}"));
            }
            m.push_str(".\n");
        }
        None => m.push_str("Not published: no fixed manifest to cite yet.\n"),
    }
    m.push_str("\n## AI-readiness\n\n| axis | level | next level needs |\n| --- | ---: | --- |\n");
    for r in readiness(f) {
        m.push_str(&format!(
            "| {} | {} | {} |\n",
            r.axis,
            r.level,
            r.next.as_deref().unwrap_or("(highest)")
        ));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{NewDataset, Publication};
    use crate::records::{ObjectRecord, Replica};

    fn facts() -> CardFacts {
        let d = NewDataset {
            name: "juno-run42".into(),
            owner: "alice".into(),
            kind: DatasetKind::Facility {
                facility: "JUNO".into(),
                close_after_idle_ms: 0,
            },
            description: String::new(),
            rules: vec![],
        }
        .into_record(1_796_000_000_000);
        let mut files = FileFacts::default();
        let rec = ObjectRecord {
            size: 1 << 30,
            file_format: "ROOT".into(),
            created_ms: 1_796_000_000_000,
            replicas: [1, 2]
                .iter()
                .map(|s| Replica {
                    site: *s,
                    state: ReplicaState::Complete,
                    verified_at_ms: 1,
                    reason: 0,
                })
                .collect(),
            ..Default::default()
        };
        files.add("juno-raw", "run42/a.root", &rec, |s| format!("site{s}"));
        CardFacts {
            dataset: d,
            packages: BTreeMap::new(),
            files,
            s3_endpoints: [("Beijing".to_string(), "http://127.0.0.1:9000".to_string())].into(),
            grpc_endpoint: "http://127.0.0.1:50051".into(),
            datacite: Err("the dataset package".into()),
            reads: 0,
            readers: 0,
            scrub_report: false,
        }
    }

    #[test]
    fn levels_follow_the_evidence_and_say_what_is_missing() {
        let mut f = facts();
        let r = readiness(&f);
        assert_eq!(r.iter().map(|x| x.level).collect::<Vec<_>>(), [2, 3, 1]);
        assert!(
            r[0].next.as_deref().is_some_and(|n| n.contains("scrub")),
            "{r:?}"
        );
        f.packages
            .insert("dataset".into(), json!({"title": "Run 42"}));
        assert_eq!(readiness(&f)[2].level, 2);
        f.datacite = Ok(());
        assert_eq!(readiness(&f)[2].level, 3);
        f.scrub_report = true;
        assert_eq!(
            readiness(&f)[0].level,
            2,
            "unpublished: no external check yet"
        );
        f.dataset.published = Some(Publication {
            published_ms: 1,
            manifest_hash: [1; 32],
            files: 1,
            bytes: 1 << 30,
        });
        assert_eq!(readiness(&f)[0].level, 3);
        f.files.missing = 1;
        assert_eq!(readiness(&f)[0].level, 1);
        let md = card_markdown(&f);
        assert!(md.starts_with("# Run 42"), "{md}");
        assert!(md.contains("| juno-raw/run42/ | 1 | 1.0 GiB |"), "{md}");
        assert!(md.contains("| ROOT | 1 | 1.0 GiB |"), "{md}");
        let j = card_json(&f);
        assert_eq!(j["files"]["formats"][0]["format"], "ROOT");
        assert_eq!(j["ai_readiness"][1]["level"], 3);
    }
}
