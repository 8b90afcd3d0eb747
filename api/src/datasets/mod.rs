//! The gRPC dataset API (`meridian.v1.DatasetService`) on the client port.
//! Every call is authenticated, then decided against the dataset's own
//! permissions ([`crate::auth::datasets`]) on the record the change will
//! apply to: a change carries the version the decision was made on, so a
//! grant revoked meanwhile cannot slip a change through (the call retries
//! on the new record, and is decided again).

mod access;
mod card;
mod cursor;
pub mod members;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use meridian_core::access::bucket_policy::BucketPolicy;
use meridian_core::access::dataset::{DELETE, GET, PUBLISH, SET_ACCESS, UPDATE};
use meridian_core::dataset::{DatasetChange, DatasetRecord, MetadataDoc, NewDataset};
use meridian_core::search::{parse_filter, Op, Query, Target, Value};
use meridian_core::CoreError;
use meridian_metadata::{datacite, Package};
use meridian_objects::Objects;
use meridian_proto::v1::change_dataset_request::Change;
use meridian_proto::v1::dataset_service_server::DatasetService;
use meridian_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::auth::scope::Access;
use crate::auth::{ClientAuth, Identity};
use crate::status;

/// The methods' paths, as signatures cover them.
pub mod method {
    const P: &str = "/meridian.v1.DatasetService/";
    pub fn path(m: &str) -> String {
        format!("{P}{m}")
    }
}

/// How often a change is decided again when the dataset moved under it.
const CHANGE_ATTEMPTS: usize = 3;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Records a listing reads for one caller before it answers with what it
/// found and where to go on (a caller who sees few datasets among many).
const LIST_SCAN: usize = 10_000;

fn page(limit: u32) -> usize {
    match limit {
        0 => DEFAULT_PAGE,
        n => (n as usize).min(MAX_PAGE),
    }
}

pub use card::AccessPoints;

pub struct DatasetApi {
    gw: Arc<Objects>,
    auth: Arc<ClientAuth>,
    /// Who publishes the centre's datasets (DataCite's `publisher`);
    /// empty: exports say it is missing.
    publisher: String,
    /// Where the data is served, for cards.
    points: AccessPoints,
    cursors: cursor::Cursors,
}

impl DatasetApi {
    pub fn new(
        gw: Arc<Objects>,
        auth: Arc<ClientAuth>,
        publisher: String,
        points: AccessPoints,
    ) -> Self {
        DatasetApi {
            gw,
            auth,
            publisher,
            points,
            cursors: cursor::Cursors::default(),
        }
    }

    async fn identify<T>(&self, req: &Request<T>, m: &str) -> Result<Identity, Status> {
        self.auth.identify(req, &method::path(m)).await
    }

    async fn record(&self, name: &str) -> Result<DatasetRecord, Status> {
        self.gw.catalogue().dataset(name).await.map_err(status)
    }

    /// `name`, once `id` may do `action` to it.
    async fn allowed(
        &self,
        id: &Identity,
        name: &str,
        action: &str,
    ) -> Result<DatasetRecord, Status> {
        let d = self.record(name).await?;
        self.auth.authorize_dataset(id, &d, action).await?;
        Ok(d)
    }

    /// `name`'s stored packages, parsed: a stored document that does not
    /// parse (or names no package) is an internal fault, never ignored.
    async fn packages(&self, name: &str) -> Result<BTreeMap<Package, serde_json::Value>, Status> {
        let mut docs = BTreeMap::new();
        for m in self
            .gw
            .catalogue()
            .dataset_metadata(name)
            .await
            .map_err(status)?
        {
            let package = Package::parse(&m.package)
                .map_err(|e| Status::internal(format!("stored metadata of {name}: {e}")))?;
            let value = serde_json::from_str(&m.document)
                .map_err(|e| Status::internal(format!("stored {} package: {e}", m.package)))?;
            docs.insert(package, value);
        }
        Ok(docs)
    }

    async fn info(&self, d: &DatasetRecord) -> Result<DatasetInfo, Status> {
        let packages = self
            .gw
            .catalogue()
            .dataset_metadata(&d.name)
            .await
            .map_err(status)?;
        Ok(wire::info(d, &packages))
    }

    /// Applies the change `make` builds from the record, once `id` may do
    /// `action` to the record it applies to.
    async fn change<F>(
        &self,
        id: &Identity,
        name: &str,
        if_version: u64,
        action: &str,
        make: F,
    ) -> Result<DatasetInfo, Status>
    where
        F: Fn(&DatasetRecord) -> DatasetChange,
    {
        let deleting = action == DELETE;
        for attempt in 1..=CHANGE_ATTEMPTS {
            let d = self.allowed(id, name, action).await?;
            // The caller's expectation, or the version just decided on.
            let at = if if_version != 0 {
                if_version
            } else {
                d.version
            };
            match self.gw.catalogue().change_dataset(name, make(&d), at).await {
                Ok(()) => {
                    self.auth
                        .record(
                            id,
                            "client",
                            &crate::auth::datasets::dataset_resource(Some(name)),
                            "OK",
                        )
                        .await;
                    if deleting {
                        return Ok(DatasetInfo::default());
                    }
                    let after = self.record(name).await?;
                    return self.info(&after).await;
                }
                Err(CoreError::PreconditionFailed(_))
                    if if_version == 0 && attempt < CHANGE_ATTEMPTS =>
                {
                    continue
                }
                Err(e) => return Err(status(e)),
            }
        }
        Err(Status::aborted(format!(
            "{name} changed {CHANGE_ATTEMPTS} times while this change was decided; retry"
        )))
    }

    /// Files may join a dataset only if `id` may read them (and rules only
    /// take from where `id` may list): a dataset does not widen access to
    /// what its owner could not see.
    async fn may_read_files(&self, id: &Identity, files: &[DatasetFile]) -> Result<(), Status> {
        // The signature covers the dataset; each file is decided by its
        // bucket's rules and the token's scopes.
        let mut inner = id.clone();
        inner.resource = None;
        for f in files {
            self.auth
                .authorize(
                    &inner,
                    (&f.bucket, Some(&f.key)),
                    "s3:GetObject",
                    (Access::Read, &f.key),
                )
                .await?;
        }
        Ok(())
    }

    async fn may_list_rules(&self, id: &Identity, rules: &[DatasetRule]) -> Result<(), Status> {
        let mut inner = id.clone();
        inner.resource = None;
        for r in rules {
            self.auth
                .authorize(
                    &inner,
                    (&r.bucket, None),
                    "s3:ListBucket",
                    (Access::Read, &r.prefix),
                )
                .await?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl DatasetService for DatasetApi {
    async fn create_dataset(
        &self,
        req: Request<CreateDatasetRequest>,
    ) -> Result<Response<DatasetInfo>, Status> {
        let id = self.identify(&req, "CreateDataset").await?;
        let r = req.into_inner();
        self.auth.may_create_dataset(&id, &r.name).await?;
        meridian_core::dataset::check_dataset_name(&r.name).map_err(status)?;
        let kind = wire::kind_from(&r)?;
        self.may_list_rules(&id, &r.rules).await?;
        self.gw
            .catalogue()
            .create_dataset(NewDataset {
                name: r.name.clone(),
                owner: id.owner(),
                kind,
                description: r.description,
                rules: wire::rules_from(&r.rules),
            })
            .await
            .map_err(status)?;
        let d = self.record(&r.name).await?;
        Ok(Response::new(self.info(&d).await?))
    }

    async fn get_dataset(
        &self,
        req: Request<GetDatasetRequest>,
    ) -> Result<Response<DatasetInfo>, Status> {
        let id = self.identify(&req, "GetDataset").await?;
        let d = self.allowed(&id, &req.get_ref().name, GET).await?;
        Ok(Response::new(self.info(&d).await?))
    }

    async fn list_datasets(
        &self,
        req: Request<ListDatasetsRequest>,
    ) -> Result<Response<ListDatasetsResponse>, Status> {
        let id = self.identify(&req, "ListDatasets").await?;
        self.auth.may_list_datasets(&id).await?;
        let r = req.into_inner();
        let want = page(r.limit);
        let mut out = ListDatasetsResponse::default();
        let mut after = r.after;
        let mut scanned = 0;
        'pages: loop {
            let batch = self
                .gw
                .catalogue()
                .list_datasets(&after, MAX_PAGE)
                .await
                .map_err(status)?;
            let full = batch.len() == MAX_PAGE;
            for d in batch {
                scanned += 1;
                after = d.name.clone();
                if self.auth.sees_dataset(&id, &d) {
                    out.datasets.push(self.info(&d).await?);
                }
                if out.datasets.len() == want || scanned >= LIST_SCAN {
                    out.next_after = after.clone();
                    break 'pages;
                }
            }
            if !full {
                break;
            }
        }
        Ok(Response::new(out))
    }

    async fn change_dataset(
        &self,
        req: Request<ChangeDatasetRequest>,
    ) -> Result<Response<DatasetInfo>, Status> {
        let id = self.identify(&req, "ChangeDataset").await?;
        let r = req.into_inner();
        let Some(change) = r.change else {
            return Err(Status::invalid_argument(
                "no change: close, reopen, describe, attach, detach, publish or delete",
            ));
        };
        let (action, made): (&str, DatasetChange) = match change {
            Change::Close(_) => (UPDATE, DatasetChange::Close),
            Change::Reopen(_) => (UPDATE, DatasetChange::Reopen),
            Change::Describe(d) => {
                self.may_list_rules(&id, &d.rules).await?;
                (
                    UPDATE,
                    DatasetChange::Describe {
                        description: d.description,
                        rules: wire::rules_from(&d.rules),
                    },
                )
            }
            Change::Attach(f) => {
                self.may_read_files(&id, &f.files).await?;
                let files = f.files.iter().map(wire::file_from).collect();
                (UPDATE, DatasetChange::Attach(files))
            }
            Change::Detach(f) => {
                let files = f.files.iter().map(wire::file_from).collect();
                (UPDATE, DatasetChange::Detach(files))
            }
            Change::Publish(_) => (PUBLISH, DatasetChange::Publish),
            Change::Delete(_) => (DELETE, DatasetChange::Delete),
        };
        let info = self
            .change(&id, &r.name, r.if_version, action, |_| made.clone())
            .await?;
        Ok(Response::new(info))
    }

    async fn set_dataset_access(
        &self,
        req: Request<SetDatasetAccessRequest>,
    ) -> Result<Response<DatasetInfo>, Status> {
        let id = self.identify(&req, "SetDatasetAccess").await?;
        let r = req.into_inner();
        let grants = r
            .grants
            .iter()
            .map(wire::grant_from)
            .collect::<Result<Vec<_>, _>>()?;
        if !r.policy.is_empty() {
            BucketPolicy::parse_dataset(&r.policy, &r.name)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        let info = self
            .change(&id, &r.name, r.if_version, SET_ACCESS, |_| {
                DatasetChange::SetAccess {
                    grants: grants.clone(),
                    policy: r.policy.clone(),
                }
            })
            .await?;
        Ok(Response::new(info))
    }

    async fn list_dataset_files(
        &self,
        req: Request<ListDatasetFilesRequest>,
    ) -> Result<Response<ListDatasetFilesResponse>, Status> {
        let id = self.identify(&req, "ListDatasetFiles").await?;
        let r = req.into_inner();
        self.allowed(&id, &r.name, GET).await?;
        let p = self
            .gw
            .catalogue()
            .dataset_files(
                &r.name,
                r.after.as_ref().map(wire::file_from),
                page(r.limit),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(ListDatasetFilesResponse {
            files: p.files.iter().map(wire::file_to).collect(),
            next_after: p.next_after.as_ref().map(wire::file_to),
        }))
    }

    async fn get_manifest(
        &self,
        req: Request<GetManifestRequest>,
    ) -> Result<Response<GetManifestResponse>, Status> {
        let id = self.identify(&req, "GetManifest").await?;
        let r = req.into_inner();
        let d = self.allowed(&id, &r.name, GET).await?;
        let Some(p) = &d.published else {
            return Err(Status::failed_precondition(format!(
                "{} is {}: only a published dataset has a manifest",
                d.name,
                d.state.name()
            )));
        };
        let limit = page(r.limit);
        let entries = self
            .gw
            .catalogue()
            .manifest(&r.name, r.after.as_ref().map(wire::file_from), limit)
            .await
            .map_err(status)?;
        let next_after = (entries.len() == limit)
            .then(|| entries.last())
            .flatten()
            .map(|e| DatasetFile {
                bucket: e.bucket.clone(),
                key: e.key.clone(),
            });
        Ok(Response::new(GetManifestResponse {
            citation: meridian_core::dataset::citation_hash(&p.manifest_hash),
            files: p.files,
            bytes: p.bytes,
            entries: entries
                .into_iter()
                .map(|e| ManifestFile {
                    bucket: e.bucket,
                    key: e.key,
                    version_id: e.version_id,
                    size: e.size,
                    blake3: hex::encode(e.blake3),
                })
                .collect(),
            next_after,
        }))
    }

    async fn file_datasets(
        &self,
        req: Request<FileDatasetsRequest>,
    ) -> Result<Response<FileDatasetsResponse>, Status> {
        let id = self.identify(&req, "FileDatasets").await?;
        let r = req.into_inner();
        // Whoever may read the file may ask what it belongs to; of the
        // answer they see the datasets they may read.
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:GetObject",
                (Access::Read, &r.key),
            )
            .await?;
        let names = self
            .gw
            .catalogue()
            .file_datasets(&r.bucket, &r.key)
            .await
            .map_err(status)?;
        let mut datasets = Vec::new();
        for n in names {
            match self.record(&n).await {
                Ok(d) if self.auth.sees_dataset(&id, &d) => datasets.push(n),
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::NotFound => {}
                Err(s) => return Err(s),
            }
        }
        Ok(Response::new(FileDatasetsResponse { datasets }))
    }

    async fn set_metadata(
        &self,
        req: Request<SetMetadataRequest>,
    ) -> Result<Response<DatasetInfo>, Status> {
        let id = self.identify(&req, "SetMetadata").await?;
        let r = req.into_inner();
        let package =
            Package::parse(&r.package).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !r.document.is_empty() {
            // Validated before anything is proposed: a refusal names every
            // field at fault and changes nothing.
            meridian_metadata::validate(package, &r.document)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        let doc = MetadataDoc {
            package: package.name().into(),
            schema_version: package.version(),
            document: r.document,
            set_ms: 0,
        };
        let info = self
            .change(&id, &r.name, r.if_version, UPDATE, |_| {
                DatasetChange::SetMetadata(doc.clone())
            })
            .await?;
        Ok(Response::new(info))
    }

    async fn get_metadata(
        &self,
        req: Request<GetMetadataRequest>,
    ) -> Result<Response<GetMetadataResponse>, Status> {
        let id = self.identify(&req, "GetMetadata").await?;
        let r = req.into_inner();
        if !r.package.is_empty() {
            Package::parse(&r.package).map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        self.allowed(&id, &r.name, GET).await?;
        let docs = self
            .gw
            .catalogue()
            .dataset_metadata(&r.name)
            .await
            .map_err(status)?;
        Ok(Response::new(GetMetadataResponse {
            documents: docs
                .iter()
                .filter(|m| r.package.is_empty() || m.package == r.package)
                .map(wire::document_to)
                .collect(),
        }))
    }

    async fn export_metadata(
        &self,
        req: Request<ExportMetadataRequest>,
    ) -> Result<Response<ExportMetadataResponse>, Status> {
        let id = self.identify(&req, "ExportMetadata").await?;
        let r = req.into_inner();
        if !matches!(r.standard.as_str(), "" | "datacite") {
            return Err(Status::invalid_argument(format!(
                "standard {:?}: Meridian exports to datacite",
                r.standard
            )));
        }
        let d = self.allowed(&id, &r.name, GET).await?;
        let c = self.gw.catalogue();
        let docs = self.packages(&d.name).await?;
        let members = members::walk(c.as_ref(), &d).await.map_err(status)?;
        let at_ms = d
            .published
            .as_ref()
            .map_or(d.created_ms, |p| p.published_ms);
        let facts = datacite::Facts {
            name: d.name.clone(),
            doi: None,
            publication: match &d.kind {
                meridian_core::dataset::DatasetKind::Paper { publication } => {
                    Some(publication.clone())
                }
                _ => None,
            },
            publisher: self.publisher.clone(),
            year: year_of(at_ms),
            files: members.files.len() as u64,
            bytes: members.bytes(),
            formats: Vec::new(),
            manifest: d
                .published
                .as_ref()
                .map(|p| meridian_core::dataset::citation_hash(&p.manifest_hash)),
        };
        let doc = datacite::export(&docs, &facts)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Status::internal(format!("encoding the export: {e}")))?;
        Ok(Response::new(ExportMetadataResponse { document: text }))
    }

    async fn get_card(
        &self,
        req: Request<GetCardRequest>,
    ) -> Result<Response<CardResponse>, Status> {
        let id = self.identify(&req, "GetCard").await?;
        Ok(Response::new(self.card(&id, &req.get_ref().name).await?))
    }

    async fn access_report(
        &self,
        req: Request<AccessReportRequest>,
    ) -> Result<Response<AccessReportResponse>, Status> {
        let id = self.identify(&req, "AccessReport").await?;
        Ok(Response::new(self.report(&id, req.into_inner()).await?))
    }

    async fn search(
        &self,
        req: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let id = self.identify(&req, "Search").await?;
        let r = req.into_inner();
        let q = self.query(&r)?;
        if q.target == Target::Datasets {
            self.auth.may_list_datasets(&id).await?;
        } else {
            self.auth.may_search_files(&id).await?;
            // The files of a dataset are walked only for who may read it.
            let walked = q.filters.iter().find_map(|f| match (&f.field[..], &f.op) {
                ("dataset", Op::Eq(Value::Text(n))) => Some(n.clone()),
                _ => None,
            });
            if let Some(name) = walked {
                let mut quiet = id.clone();
                // The signature covers the search, not the dataset.
                quiet.resource = None;
                self.allowed(&quiet, &name, GET).await?;
            }
        }
        let page = self.gw.catalogue().search(&q).await.map_err(status)?;
        let admin = id.caller == meridian_core::access::Caller::Admin;
        let mut out = SearchResponse {
            cursor: page
                .next
                .as_deref()
                .map(|c| self.cursors.seal(c))
                .unwrap_or_default(),
            // How many candidates were read counts what the caller may not
            // see: the administrator's only.
            examined: if admin { page.examined } else { 0 },
            walked: page.walked,
            ..Default::default()
        };
        for d in &page.datasets {
            if self.auth.sees_dataset(&id, d) {
                out.datasets.push(self.info(d).await?);
            }
        }
        let topology = self.gw.topology();
        for (bucket, key, rec) in &page.files {
            let scoped = id
                .scopes
                .as_ref()
                .is_none_or(|s| s.allows(Access::Read, bucket, key));
            if scoped && self.auth.may_see_listed(&id, bucket, key).await {
                out.files
                    .push(crate::object_info(topology, bucket, key, rec));
            }
        }
        Ok(Response::new(out))
    }
}

impl DatasetApi {
    /// `r`'s query, its site names resolved to the ids records hold.
    fn query(&self, r: &SearchRequest) -> Result<Query, Status> {
        let target = match r.target.as_str() {
            "" | "files" => Target::Files,
            "datasets" => Target::Datasets,
            t => {
                return Err(Status::invalid_argument(format!(
                    "target {t:?}: files or datasets"
                )))
            }
        };
        let mut filters = Vec::with_capacity(r.filters.len());
        for f in &r.filters {
            let mut f = parse_filter(target, f).map_err(status)?;
            if f.field == "site" {
                if let Op::Eq(Value::Text(name)) = &f.op {
                    let id = self.gw.site_id(name).map_err(status)?;
                    f.op = Op::Eq(Value::Text(id.to_string()));
                }
            }
            filters.push(f);
        }
        Ok(Query {
            target,
            filters,
            sort: (!r.sort.is_empty()).then(|| r.sort.clone()),
            descending: r.descending,
            limit: r.limit as usize,
            after: if r.cursor.is_empty() {
                None
            } else {
                Some(self.cursors.open(&r.cursor)?)
            },
        })
    }
}

/// The UTC year of `ms` since the epoch.
fn year_of(ms: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.year())
        .unwrap_or(1970)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_and_the_schemas_name_the_same_packages() {
        let schemas: Vec<&str> = Package::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(schemas, meridian_core::dataset::METADATA_PACKAGES);
    }

    #[test]
    fn years_and_pages() {
        assert_eq!(year_of(1_796_601_600_000), 2026);
        assert_eq!(page(0), DEFAULT_PAGE);
        assert_eq!(page(5000), MAX_PAGE);
    }
}
