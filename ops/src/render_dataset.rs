//! Datasets for people (tables) and scripts (JSON).

use meridian_proto::v1::*;
use serde_json::{json, Value};

use crate::render::{human_bytes, table};

fn info_json(d: &DatasetInfo) -> Value {
    json!({
        "name": d.name, "owner": d.owner, "kind": d.kind,
        "publication": d.publication, "facility": d.facility,
        "close_after_idle_ms": d.close_after_idle_ms,
        "state": d.state, "version": d.version,
        "created_ms": d.created_ms, "updated_ms": d.updated_ms,
        "last_join_ms": d.last_join_ms, "description": d.description,
        "rules": d.rules.iter().map(|r| json!({"bucket": r.bucket, "prefix": r.prefix})).collect::<Vec<_>>(),
        "grants": d.grants.iter().map(|g| json!({"user": g.user, "level": g.level})).collect::<Vec<_>>(),
        "policy": d.policy,
        "attached_files": d.attached_files,
        "published_ms": d.published_ms, "manifest_files": d.manifest_files,
        "manifest_bytes": d.manifest_bytes, "citation": d.citation,
        "metadata_packages": d.metadata_packages,
    })
}

pub fn info(json: bool, d: &DatasetInfo) -> String {
    if json {
        return info_json(d).to_string();
    }
    let mut lines = vec![
        format!("dataset      {}", d.name),
        format!("owner        {}", d.owner),
        format!(
            "kind         {}{}",
            d.kind,
            match d.kind.as_str() {
                "paper" => format!(" (publication {})", d.publication),
                "facility" if d.close_after_idle_ms > 0 => format!(
                    " (facility {}, closes after {} s idle)",
                    d.facility,
                    d.close_after_idle_ms / 1000
                ),
                "facility" => format!(" (facility {})", d.facility),
                _ => String::new(),
            }
        ),
        format!("state        {} (version {})", d.state, d.version),
        format!("attached     {} files", d.attached_files),
    ];
    if !d.description.is_empty() {
        lines.push(format!("description  {}", d.description));
    }
    for r in &d.rules {
        lines.push(format!("rule         {}/{}", r.bucket, r.prefix));
    }
    for g in &d.grants {
        lines.push(format!("grant        {} {}", g.user, g.level));
    }
    if !d.policy.is_empty() {
        lines.push("policy       set (`--json` shows it)".into());
    }
    if !d.metadata_packages.is_empty() {
        lines.push(format!("metadata     {}", d.metadata_packages.join(", ")));
    }
    if !d.citation.is_empty() {
        lines.push(format!(
            "published    {} files, {} ; cite {}",
            d.manifest_files,
            human_bytes(d.manifest_bytes),
            d.citation
        ));
    }
    lines.join("\n")
}

pub fn list(json: bool, r: &ListDatasetsResponse) -> String {
    if json {
        return json!({
            "datasets": r.datasets.iter().map(info_json).collect::<Vec<_>>(),
            "next_after": r.next_after,
        })
        .to_string();
    }
    let rows: Vec<Vec<String>> = r
        .datasets
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.kind.clone(),
                d.state.clone(),
                d.owner.clone(),
                d.attached_files.to_string(),
                d.citation.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &["DATASET", "KIND", "STATE", "OWNER", "ATTACHED", "CITATION"],
        &rows,
    );
    if !r.next_after.is_empty() {
        out.push_str(&format!("\n(more: --after {})", r.next_after));
    }
    out
}

pub fn files(json: bool, r: &ListDatasetFilesResponse) -> String {
    if json {
        return json!({
            "files": r.files.iter().map(|f| json!({"bucket": f.bucket, "key": f.key})).collect::<Vec<_>>(),
            "more": r.next_after.is_some(),
        })
        .to_string();
    }
    let mut out: Vec<String> = r
        .files
        .iter()
        .map(|f| format!("{}/{}", f.bucket, f.key))
        .collect();
    if r.next_after.is_some() {
        out.push("(more: raise --limit)".into());
    }
    out.join("\n")
}

pub fn manifest(json: bool, m: &GetManifestResponse) -> String {
    if json {
        return json!({
            "citation": m.citation, "files": m.files, "bytes": m.bytes,
            "entries": m.entries.iter().map(|e| json!({
                "bucket": e.bucket, "key": e.key, "version_id": e.version_id,
                "size": e.size, "blake3": e.blake3,
            })).collect::<Vec<_>>(),
            "more": m.next_after.is_some(),
        })
        .to_string();
    }
    let rows: Vec<Vec<String>> = m
        .entries
        .iter()
        .map(|e| {
            vec![
                format!("{}/{}", e.bucket, e.key),
                e.size.to_string(),
                e.blake3.clone(),
                e.version_id.clone(),
            ]
        })
        .collect();
    format!(
        "cite {} ({} files, {})\n{}",
        m.citation,
        m.files,
        human_bytes(m.bytes),
        table(&["FILE", "SIZE", "BLAKE3", "VERSION"], &rows)
    )
}

pub fn metadata(json: bool, r: &GetMetadataResponse) -> String {
    if json {
        let docs: Vec<Value> = r
            .documents
            .iter()
            .map(|d| {
                json!({
                    "package": d.package, "schema_version": d.schema_version,
                    "set_ms": d.set_ms,
                    "document": serde_json::from_str::<Value>(&d.document).unwrap_or(Value::Null),
                })
            })
            .collect();
        return json!({ "documents": docs }).to_string();
    }
    if r.documents.is_empty() {
        return "(no metadata package set)".into();
    }
    r.documents
        .iter()
        .map(|d| {
            format!(
                "# {} (schema v{})\n{}",
                d.package, d.schema_version, d.document
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn search(json: bool, r: &SearchResponse) -> String {
    if json {
        return json!({
            "datasets": r.datasets.iter().map(info_json).collect::<Vec<_>>(),
            "files": r.files.iter().map(|f| json!({
                "bucket": f.bucket, "key": f.key, "size": f.size, "blake3": f.blake3,
                "format": f.file_format, "created_ms": f.created_ms,
                "replicas": f.replicas.iter().map(|x| json!({"site": x.site, "state": x.state})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "cursor": r.cursor, "examined": r.examined, "walked": r.walked,
        })
        .to_string();
    }
    let mut out = if !r.datasets.is_empty() || r.files.is_empty() {
        list(
            false,
            &ListDatasetsResponse {
                datasets: r.datasets.clone(),
                next_after: String::new(),
            },
        )
    } else {
        let rows: Vec<Vec<String>> = r
            .files
            .iter()
            .map(|f| {
                vec![
                    format!("{}/{}", f.bucket, f.key),
                    human_bytes(f.size),
                    f.file_format.clone(),
                    f.replicas
                        .iter()
                        .filter(|x| x.state == "complete")
                        .map(|x| x.site.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                ]
            })
            .collect();
        table(&["FILE", "SIZE", "FORMAT", "COMPLETE AT"], &rows)
    };
    out.push_str(&format!("\n({} read by {}", r.examined, r.walked));
    if !r.cursor.is_empty() {
        out.push_str(&format!("; more: --cursor {}", r.cursor));
    }
    out.push(')');
    out
}

fn counts_json(c: &AccessCounts) -> Value {
    json!({
        "reads": c.reads, "read_bytes": c.read_bytes, "writes": c.writes,
        "write_bytes": c.write_bytes, "deletes": c.deletes,
        "distinct_users": c.distinct_users, "users_overflow": c.users_overflow,
        "users": c.users, "first_ms": c.first_ms, "last_ms": c.last_ms,
    })
}

pub fn access(json: bool, r: &AccessReportResponse) -> String {
    let total = r.total.clone().unwrap_or_default();
    if json {
        return json!({
            "total": counts_json(&total),
            "files": r.files.iter().map(|f| json!({
                "bucket": f.bucket, "key": f.key,
                "counts": counts_json(&f.counts.clone().unwrap_or_default()),
            })).collect::<Vec<_>>(),
            "files_counted": r.files_counted,
            "truncated": r.truncated,
        })
        .to_string();
    }
    let users = |c: &AccessCounts| {
        let more = if c.users_overflow { "+" } else { "" };
        format!("{}{more}", c.distinct_users)
    };
    let mut out = format!(
        "{} files: {} reads ({}), {} writes ({}), {} deletes, {} distinct users{}",
        r.files_counted,
        total.reads,
        human_bytes(total.read_bytes),
        total.writes,
        human_bytes(total.write_bytes),
        total.deletes,
        users(&total),
        if total.users.is_empty() {
            String::new()
        } else {
            format!(" ({})", total.users.join(", "))
        }
    );
    if r.truncated {
        out.push_str(" (the dataset's walk stopped at its bound)");
    }
    let rows: Vec<Vec<String>> = r
        .files
        .iter()
        .map(|f| {
            let c = f.counts.clone().unwrap_or_default();
            vec![
                format!("{}/{}", f.bucket, f.key),
                c.reads.to_string(),
                human_bytes(c.read_bytes),
                c.writes.to_string(),
                users(&c),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&["FILE", "READS", "READ", "WRITES", "USERS"], &rows));
    out
}

pub fn readiness(json: bool, r: &[Readiness]) -> String {
    if json {
        return json!(r
            .iter()
            .map(|x| json!({"axis": x.axis, "level": x.level, "evidence": x.evidence, "next": x.next}))
            .collect::<Vec<_>>())
        .to_string();
    }
    let mut out = Vec::new();
    for x in r {
        out.push(format!("{}: level {}", x.axis, x.level));
        for e in &x.evidence {
            out.push(format!("  + {e}"));
        }
        if !x.next.is_empty() {
            out.push(format!("  next: {}", x.next));
        }
    }
    out.join("\n")
}
