//! `GetCard`: the facts a data card and its readiness ratings are made of
//! (`meridian_core::card`), gathered from the catalogue: the record, the
//! packages, the files as the members walk finds them, their access
//! tallies, and where the data is served.

use std::collections::BTreeMap;

use meridian_core::access::dataset::GET;
use meridian_core::card::{card_json, card_markdown, readiness, CardFacts, FileFacts};
use meridian_core::tracking::Tally;
use meridian_metadata::datacite;
use meridian_placement::SiteId;
use meridian_proto::v1::{CardResponse, Readiness};
use tonic::Status;

use super::{members, DatasetApi};
use crate::auth::Identity;
use crate::status;

/// Where clients reach this node's data: S3 endpoints by site, the gRPC
/// client API.
#[derive(Debug, Clone, Default)]
pub struct AccessPoints {
    pub s3: BTreeMap<String, String>,
    pub grpc: String,
}

impl DatasetApi {
    pub(super) async fn card(&self, id: &Identity, name: &str) -> Result<CardResponse, Status> {
        let d = self.allowed(id, name, GET).await?;
        let c = self.gw.catalogue();
        let docs = self.packages(&d.name).await?;
        let packages: BTreeMap<String, serde_json::Value> = docs
            .iter()
            .map(|(p, v)| (p.name().to_string(), v.clone()))
            .collect();
        let walk = members::walk(c.as_ref(), &d).await.map_err(status)?;
        let topology = self.gw.topology();
        let mut files = FileFacts {
            missing: walk.missing,
            truncated: walk.truncated,
            ..Default::default()
        };
        let mut tally = Tally::default();
        let mut formats = std::collections::BTreeSet::new();
        for m in &walk.files {
            files.add(&m.file.bucket, &m.file.key, &m.record, |s| {
                topology.name(SiteId(s))
            });
            if !m.record.file_format.is_empty() {
                formats.insert(m.record.file_format.clone());
            }
            if let Some(t) = c
                .file_access(&m.file.bucket, &m.file.key)
                .await
                .map_err(status)?
            {
                tally.merge(&t);
            }
        }
        let facts_for_export = datacite::Facts {
            name: d.name.clone(),
            doi: None,
            publication: None,
            publisher: self.publisher.clone(),
            year: super::year_of(d.created_ms),
            files: files.files,
            bytes: files.bytes,
            formats: formats.into_iter().collect(),
            manifest: None,
        };
        let facts = CardFacts {
            dataset: d,
            packages,
            files,
            s3_endpoints: self.points.s3.clone(),
            grpc_endpoint: self.points.grpc.clone(),
            datacite: datacite::export(&docs, &facts_for_export)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            reads: tally.reads,
            readers: tally.users.len() as u64,
            // Scrub and audit reports do not exist yet (issue 16).
            scrub_report: false,
        };
        Ok(CardResponse {
            markdown: card_markdown(&facts),
            json: serde_json::to_string_pretty(&card_json(&facts))
                .map_err(|e| Status::internal(format!("encoding the card: {e}")))?,
            readiness: readiness(&facts)
                .into_iter()
                .map(|r| Readiness {
                    axis: r.axis.into(),
                    level: u32::from(r.level),
                    evidence: r.evidence,
                    next: r.next.unwrap_or_default(),
                })
                .collect(),
        })
    }
}
