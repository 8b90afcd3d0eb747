//! The tools an agent gets: find datasets and files, read cards, metadata
//! and readiness, list files, check replication, get a presigned
//! download URL; and, only where the server was started to allow writes,
//! set a metadata package. Each is a call of the client API as the
//! agent's user, so what it may see and do is what that user may.

use meridian_api::auth::client::with_resource;
use meridian_api::auth::datasets::DATASETS;
use meridian_proto::v1::*;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::{AuthChannel, Credential};
use crate::{McpError, Settings};

type Answer = Result<String, String>;

fn shown(v: Value) -> Answer {
    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
}

fn refused(s: tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Search {
    /// Filters, all of which must hold: FIELD=VALUE, FIELD^=PREFIX,
    /// FIELD>=VALUE, FIELD<VALUE ... e.g. "dataset.keywords=neutrino",
    /// "state=published", "format=ROOT", "size>=1GiB", "site=Jiangmen".
    pub filters: Vec<String>,
    /// An indexed field to sort by (e.g. "created"); empty: the index's order.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub descending: bool,
    /// At most this many answers (1-1000; default 20).
    #[serde(default)]
    pub limit: u32,
    /// A previous answer's cursor, to go on.
    #[serde(default)]
    pub cursor: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Named {
    /// The dataset's name.
    pub name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Card {
    pub name: String,
    /// "markdown" (default) or "json".
    #[serde(default)]
    pub format: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Metadata {
    pub name: String,
    /// One package (dataset, sample, experiment, preprocessing, sharing,
    /// results); empty: every package set.
    #[serde(default)]
    pub package: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Files {
    pub name: String,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Object {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Presign {
    pub bucket: String,
    pub key: String,
    /// How long the URL works, in seconds (default 3600, at most a week).
    #[serde(default)]
    pub expires_s: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SetMetadata {
    pub name: String,
    pub package: String,
    /// The package's JSON document (validated against its schema).
    pub document: Value,
}

/// The MCP server of one agent session.
#[derive(Clone)]
pub struct Meridian {
    settings: std::sync::Arc<Settings>,
    tool_router: ToolRouter<Self>,
}

fn info(d: &DatasetInfo) -> Value {
    json!({
        "name": d.name, "kind": d.kind, "state": d.state, "owner": d.owner,
        "description": d.description, "facility": d.facility, "publication": d.publication,
        "version": d.version, "attached_files": d.attached_files,
        "metadata_packages": d.metadata_packages, "citation": d.citation,
        "manifest_files": d.manifest_files, "manifest_bytes": d.manifest_bytes,
    })
}

fn object(f: &ObjectInfo) -> Value {
    json!({
        "bucket": f.bucket, "key": f.key, "size": f.size, "blake3": f.blake3,
        "format": f.file_format, "created_ms": f.created_ms,
        "replicas": f.replicas.iter().map(|r| json!({"site": r.site, "state": r.state})).collect::<Vec<_>>(),
    })
}

impl Meridian {
    pub fn new(settings: std::sync::Arc<Settings>) -> Self {
        Meridian {
            settings,
            tool_router: Self::tool_router(),
        }
    }

    /// Who this call acts as: the HTTP request's bearer token, or the
    /// server's own credential (stdio).
    fn credential(&self, parts: Option<&http::request::Parts>) -> Result<Credential, String> {
        if let Some(p) = parts {
            let bearer = p
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::client::bearer_token)
                .map(|t| Credential::Bearer(t.to_string()));
            if let Some(b) = bearer {
                return Ok(b);
            }
        }
        self.settings
            .credential
            .clone()
            .ok_or_else(|| "no credential: send Authorization: Bearer <token>".to_string())
    }

    fn channel(&self, parts: Option<&http::request::Parts>) -> Result<AuthChannel, String> {
        let cred = self.credential(parts)?;
        AuthChannel::new(self.settings.channel.clone(), &cred).map_err(|e| e.to_string())
    }

    async fn card(
        &self,
        parts: Option<&http::request::Parts>,
        name: &str,
    ) -> Result<CardResponse, String> {
        let c = self.channel(parts)?;
        let req = with_resource(GetCardRequest { name: name.into() }, DATASETS, Some(name));
        Ok(c.datasets()
            .get_card(req)
            .await
            .map_err(refused)?
            .into_inner())
    }

    async fn search(
        &self,
        parts: Option<&http::request::Parts>,
        target: &str,
        s: Search,
    ) -> Answer {
        let c = self.channel(parts)?;
        let req = SearchRequest {
            target: target.into(),
            filters: s.filters,
            sort: s.sort,
            descending: s.descending,
            limit: if s.limit == 0 { 20 } else { s.limit },
            cursor: s.cursor,
        };
        let req = if target == "datasets" {
            with_resource(req, DATASETS, None)
        } else {
            with_resource(req, "", None)
        };
        let r = c
            .datasets()
            .search(req)
            .await
            .map_err(refused)?
            .into_inner();
        shown(json!({
            "datasets": r.datasets.iter().map(info).collect::<Vec<_>>(),
            "files": r.files.iter().map(object).collect::<Vec<_>>(),
            "cursor": r.cursor, "examined": r.examined, "walked": r.walked,
        }))
    }
}

/// The request's context: over HTTP, it carries the HTTP request's parts.
type Parts = RequestContext<RoleServer>;

fn parts(p: &Parts) -> Option<&http::request::Parts> {
    p.extensions.get::<http::request::Parts>()
}

#[tool_router]
impl Meridian {
    #[tool(
        description = "Find datasets by their fields: state, kind, owner, facility, created, published and the metadata packages' indexed fields (dataset.keywords, dataset.subject_areas, dataset.license, experiment.detector.name, sharing.resource_category, ...). Only datasets the user may read are returned."
    )]
    async fn search_datasets(&self, p: Parts, Parameters(s): Parameters<Search>) -> Answer {
        self.search(parts(&p), "datasets", s).await
    }

    #[tool(
        description = "Find files by size, created time, format (ROOT, HDF5, FITS, Parquet, ...), user metadata (meta.NAME), bucket and key, dataset, site and replica state. Only files the user may list are returned."
    )]
    async fn search_files(&self, p: Parts, Parameters(s): Parameters<Search>) -> Answer {
        self.search(parts(&p), "files", s).await
    }

    #[tool(
        description = "One dataset: kind, state, owner, version, packages set, and for a published one its manifest's size and citation hash."
    )]
    async fn get_dataset(&self, p: Parts, Parameters(n): Parameters<Named>) -> Answer {
        let c = self.channel(parts(&p))?;
        let r = c
            .datasets()
            .get_dataset(with_resource(
                GetDatasetRequest {
                    name: n.name.clone(),
                },
                DATASETS,
                Some(&n.name),
            ))
            .await
            .map_err(refused)?
            .into_inner();
        shown(info(&r))
    }

    #[tool(
        description = "A dataset's data card: facility and experiment, method, files with sizes and formats, placement and integrity, metadata, how to access it, citation and AI-readiness. Markdown, or JSON with format=json."
    )]
    async fn get_card(&self, p: Parts, Parameters(c): Parameters<Card>) -> Answer {
        let r = self.card(parts(&p), &c.name).await?;
        Ok(if c.format == "json" {
            r.json
        } else {
            r.markdown
        })
    }

    #[tool(
        description = "A dataset's AI-readiness: its level 0-3 on consistency, access and metadata, with the evidence and what the next level needs."
    )]
    async fn get_readiness(&self, p: Parts, Parameters(n): Parameters<Named>) -> Answer {
        let r = self.card(parts(&p), &n.name).await?;
        shown(json!(r
            .readiness
            .iter()
            .map(|x| json!({"axis": x.axis, "level": x.level, "evidence": x.evidence, "next": x.next}))
            .collect::<Vec<_>>()))
    }

    #[tool(
        description = "A dataset's metadata packages (dataset, sample, experiment, preprocessing, sharing, results), or one of them."
    )]
    async fn get_metadata(&self, p: Parts, Parameters(m): Parameters<Metadata>) -> Answer {
        let c = self.channel(parts(&p))?;
        let req = GetMetadataRequest {
            name: m.name.clone(),
            package: m.package,
        };
        let r = c
            .datasets()
            .get_metadata(with_resource(req, DATASETS, Some(&m.name)))
            .await
            .map_err(refused)?
            .into_inner();
        shown(json!(r
            .documents
            .iter()
            .map(|d| json!({
                "package": d.package, "schema_version": d.schema_version,
                "document": serde_json::from_str::<Value>(&d.document).unwrap_or(Value::Null),
            }))
            .collect::<Vec<_>>()))
    }

    #[tool(
        description = "The files of a dataset: a published one's manifest (bucket, key, version, size, BLAKE3), else the files attached to it."
    )]
    async fn list_files(&self, p: Parts, Parameters(f): Parameters<Files>) -> Answer {
        let c = self.channel(parts(&p))?;
        let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
        let d = c
            .datasets()
            .get_dataset(with_resource(
                GetDatasetRequest {
                    name: f.name.clone(),
                },
                DATASETS,
                Some(&f.name),
            ))
            .await
            .map_err(refused)?
            .into_inner();
        if d.state == "published" {
            let req = GetManifestRequest {
                name: f.name.clone(),
                after: None,
                limit,
            };
            let m = c
                .datasets()
                .get_manifest(with_resource(req, DATASETS, Some(&f.name)))
                .await
                .map_err(refused)?
                .into_inner();
            return shown(json!({
                "citation": m.citation, "files": m.files, "bytes": m.bytes,
                "entries": m.entries.iter().map(|e| json!({
                    "bucket": e.bucket, "key": e.key, "version_id": e.version_id,
                    "size": e.size, "blake3": e.blake3,
                })).collect::<Vec<_>>(),
                "more": m.next_after.is_some(),
            }));
        }
        let req = ListDatasetFilesRequest {
            name: f.name.clone(),
            after: None,
            limit,
        };
        let r = c
            .datasets()
            .list_dataset_files(with_resource(req, DATASETS, Some(&f.name)))
            .await
            .map_err(refused)?
            .into_inner();
        shown(json!({
            "files": r.files.iter().map(|x| json!({"bucket": x.bucket, "key": x.key})).collect::<Vec<_>>(),
            "more": r.next_after.is_some(),
        }))
    }

    #[tool(
        description = "Where a file's replicas are and in what state (pending, copying, complete, suspect, lost), with its size and BLAKE3."
    )]
    async fn check_replication(&self, p: Parts, Parameters(o): Parameters<Object>) -> Answer {
        let c = self.channel(parts(&p))?;
        let req = StatRequest {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            max_staleness_ms: 0,
        };
        let r = c
            .objects()
            .stat(with_resource(req, &o.bucket, Some(&o.key)))
            .await
            .map_err(refused)?
            .into_inner();
        shown(object(&r))
    }

    #[tool(
        description = "A presigned S3 URL that downloads one file with plain HTTP GET until it expires (needs the user's access key; a bearer token cannot sign one)."
    )]
    async fn presign_download(&self, p: Parts, Parameters(r): Parameters<Presign>) -> Answer {
        let (access_key, secret) = match self.credential(parts(&p))? {
            Credential::Keys { access_key, secret } => (access_key, secret),
            Credential::Bearer(_) => {
                return Err(
                    "a bearer token cannot sign a URL: use an access key (stdio) or the S3 API"
                        .into(),
                )
            }
        };
        // The user must be able to read it now: the URL would only fail later.
        let c = self.channel(parts(&p))?;
        let req = StatRequest {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            max_staleness_ms: 0,
        };
        c.objects()
            .stat(with_resource(req, &r.bucket, Some(&r.key)))
            .await
            .map_err(refused)?;
        let Some(endpoint) = &self.settings.s3_endpoint else {
            return Err("this server knows no S3 endpoint (--s3-endpoint)".into());
        };
        let expires =
            std::time::Duration::from_secs(if r.expires_s == 0 { 3600 } else { r.expires_s });
        let url = crate::presign::download_url(
            endpoint,
            (&r.bucket, &r.key),
            (&access_key, &secret),
            &self.settings.s3_region,
            expires,
            std::time::SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        shown(json!({"url": url, "expires_s": expires.as_secs()}))
    }

    #[tool(
        description = "Set one metadata package of a dataset (validated against its schema). Refused unless the server allows writes; the user's own rights decide besides."
    )]
    async fn set_metadata(&self, p: Parts, Parameters(m): Parameters<SetMetadata>) -> Answer {
        if !self.settings.allow_writes {
            return Err(McpError::ReadOnly.to_string());
        }
        let c = self.channel(parts(&p))?;
        let req = SetMetadataRequest {
            name: m.name.clone(),
            package: m.package,
            document: m.document.to_string(),
            if_version: 0,
        };
        let d = c
            .datasets()
            .set_metadata(with_resource(req, DATASETS, Some(&m.name)))
            .await
            .map_err(refused)?
            .into_inner();
        shown(info(&d))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Meridian {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Meridian, a national data centre's storage: find datasets and files, read their data cards, metadata and AI-readiness, check where files are replicated, and get download URLs. Every call runs with the permissions of the user the server acts as.",
        )
    }
}
