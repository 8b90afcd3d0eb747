//! `meridianctl dataset`: datasets over the client API, as the user whose
//! key signs (the administrator's key acts as the administrator).

use anyhow::{bail, Context};
use clap::Subcommand;
use meridian_api::auth::client::with_resource;
use meridian_api::auth::datasets::DATASETS;
use meridian_proto::v1::change_dataset_request::Change;
use meridian_proto::v1::*;

use crate::render::status_error;
use crate::render_dataset as show;

/// The dataset API's client, each call signed.
pub type Datasets = dataset_service_client::DatasetServiceClient<
    meridian_api::auth::client::SigningChannel<tonic::transport::Channel>,
>;

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Creates an open dataset owned by the caller.
    Create {
        name: String,
        /// project, paper (bound to --publication) or facility (fed by DAQ).
        #[arg(long, default_value = "project")]
        kind: String,
        /// The publication a paper dataset is bound to: a DOI (10.x/...) or scheme:id.
        #[arg(long, default_value = "")]
        publication: String,
        /// The facility feeding a facility dataset.
        #[arg(long, default_value = "")]
        facility: String,
        /// Facility datasets: close after no file joined for this long (e.g. 30m).
        #[arg(long)]
        close_after_idle: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// BUCKET/PREFIX: files under it join while the dataset is open (repeatable).
        #[arg(long = "rule")]
        rules: Vec<String>,
    },
    /// The datasets the caller may read.
    List {
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One dataset: kind, state, version, rules, grants, publication.
    Show { name: String },
    /// Open -> closed (no file joins or leaves until reopened).
    Close {
        name: String,
        #[arg(long, default_value_t = 0)]
        if_version: u64,
    },
    Reopen {
        name: String,
        #[arg(long, default_value_t = 0)]
        if_version: u64,
    },
    /// Closed -> published: the manifest is fixed and its files kept.
    Publish {
        name: String,
        #[arg(long, default_value_t = 0)]
        if_version: u64,
    },
    /// Deletes an unpublished dataset (not its files).
    Delete {
        name: String,
        #[arg(long, default_value_t = 0)]
        if_version: u64,
    },
    /// Changes the description and (with --rule or --no-rules) the rules.
    Describe {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long = "rule")]
        rules: Vec<String>,
        #[arg(long, conflicts_with = "rules")]
        no_rules: bool,
    },
    /// Attaches BUCKET/KEY files (or those listed in --from, one a line).
    Attach {
        name: String,
        files: Vec<String>,
        #[arg(long)]
        from: Option<std::path::PathBuf>,
    },
    Detach {
        name: String,
        files: Vec<String>,
        #[arg(long)]
        from: Option<std::path::PathBuf>,
    },
    /// The files attached explicitly (a rule's files are in `card`).
    Files {
        name: String,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// A published dataset's manifest and the hash to cite it by.
    Manifest {
        name: String,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// The datasets a BUCKET/KEY file belongs to.
    Which { file: String },
    /// Grants USER (or group:AuthenticatedUsers, group:AllUsers) LEVEL
    /// (read, write, owner) on the dataset; `none` revokes.
    Grant {
        name: String,
        user: String,
        level: String,
    },
    /// Sets the dataset's policy from FILE (JSON; `-` clears it).
    Policy { name: String, file: String },
    /// Datasets (or with --files, files) by their fields: FIELD=VALUE,
    /// FIELD^=PREFIX, FIELD>=VALUE ... all must hold; e.g.
    /// `dataset.keywords=neutrino state=published`,
    /// `--files format=ROOT size>=1GiB site=Jiangmen`.
    Search {
        filters: Vec<String>,
        #[arg(long)]
        files: bool,
        #[arg(long, default_value = "")]
        sort: String,
        #[arg(long)]
        desc: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Go on from a previous answer's cursor.
        #[arg(long, default_value = "")]
        cursor: String,
    },
    /// The dataset's data card: Markdown (or with --json, JSON), computed
    /// from what the catalogue knows.
    Card { name: String },
    /// Its AI-readiness: levels 0-3 on consistency, access and metadata,
    /// with the evidence and what the next level needs.
    Readiness { name: String },
    /// The six metadata packages.
    Metadata {
        #[command(subcommand)]
        command: MetadataCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Reads, writes, bytes and distinct users of DATASET's files (or of
    /// one file with --file BUCKET/KEY), as shipped from the nodes' access
    /// logs; the most read files first.
    Report {
        dataset: Option<String>,
        #[arg(long)]
        file: Option<String>,
        #[arg(long, default_value_t = 20)]
        top: u32,
    },
}

pub async fn access(c: &mut Datasets, json: bool, cmd: AccessCommand) -> anyhow::Result<String> {
    let AccessCommand::Report {
        dataset,
        file: f,
        top,
    } = cmd;
    let req = match (dataset, f) {
        (Some(name), None) => on(
            AccessReportRequest {
                name: name.clone(),
                file: None,
                top,
            },
            &name,
        ),
        (None, Some(f)) => {
            let f = file(&f)?;
            let (b, k) = (f.bucket.clone(), f.key.clone());
            with_resource(
                AccessReportRequest {
                    name: String::new(),
                    file: Some(f),
                    top,
                },
                &b,
                Some(&k),
            )
        }
        _ => bail!("name a dataset, or a file with --file BUCKET/KEY"),
    };
    let r = c
        .access_report(req)
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(show::access(json, &r))
}

#[derive(Subcommand, Debug)]
pub enum MetadataCommand {
    /// Sets PACKAGE (dataset, sample, experiment, preprocessing, sharing,
    /// results) from FILE (JSON, validated against its schema).
    Set {
        name: String,
        package: String,
        file: std::path::PathBuf,
    },
    /// The packages set (or one).
    Get {
        name: String,
        package: Option<String>,
    },
    Remove {
        name: String,
        package: String,
    },
    /// The packages in a recognised standard (datacite).
    Export {
        name: String,
        #[arg(long, default_value = "datacite")]
        standard: String,
    },
}

fn on<T>(msg: T, name: &str) -> tonic::Request<T> {
    with_resource(msg, DATASETS, Some(name))
}

fn file(s: &str) -> anyhow::Result<DatasetFile> {
    match s.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok(DatasetFile {
            bucket: b.into(),
            key: k.into(),
        }),
        _ => bail!("{s:?} is not BUCKET/KEY"),
    }
}

fn rule(s: &str) -> anyhow::Result<DatasetRule> {
    match s.split_once('/') {
        Some((b, p)) if !b.is_empty() => Ok(DatasetRule {
            bucket: b.into(),
            prefix: p.into(),
        }),
        None if !s.is_empty() => Ok(DatasetRule {
            bucket: s.into(),
            prefix: String::new(),
        }),
        _ => bail!("{s:?} is not BUCKET/PREFIX"),
    }
}

fn files_of(args: &[String], from: Option<&std::path::Path>) -> anyhow::Result<DatasetFiles> {
    let mut names: Vec<String> = args.to_vec();
    if let Some(p) = from {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if names.is_empty() {
        bail!("no files: name BUCKET/KEY files or --from FILE");
    }
    Ok(DatasetFiles {
        files: names.iter().map(|n| file(n)).collect::<Result<_, _>>()?,
    })
}

async fn get(c: &mut Datasets, name: &str) -> anyhow::Result<DatasetInfo> {
    let req = GetDatasetRequest { name: name.into() };
    Ok(c.get_dataset(on(req, name))
        .await
        .map_err(status_error)?
        .into_inner())
}

async fn change(
    c: &mut Datasets,
    name: String,
    if_version: u64,
    change: Change,
) -> anyhow::Result<DatasetInfo> {
    let req = ChangeDatasetRequest {
        name: name.clone(),
        if_version,
        change: Some(change),
    };
    Ok(c.change_dataset(on(req, &name))
        .await
        .map_err(status_error)?
        .into_inner())
}

pub async fn run(c: &mut Datasets, json: bool, cmd: DatasetCommand) -> anyhow::Result<String> {
    use DatasetCommand::*;
    let info = |d: DatasetInfo| show::info(json, &d);
    Ok(match cmd {
        Create {
            name,
            kind,
            publication,
            facility,
            close_after_idle,
            description,
            rules,
        } => {
            let close_after_idle_ms = match close_after_idle {
                Some(d) => meridian_placement::parse_duration(&d)
                    .map_err(|e| anyhow::anyhow!("--close-after-idle: {e}"))?
                    .saturating_mul(1000) as i64,
                None => 0,
            };
            let req = CreateDatasetRequest {
                name: name.clone(),
                kind,
                publication,
                facility,
                close_after_idle_ms,
                description,
                rules: rules.iter().map(|r| rule(r)).collect::<Result<_, _>>()?,
            };
            info(
                c.create_dataset(on(req, &name))
                    .await
                    .map_err(status_error)?
                    .into_inner(),
            )
        }
        List { after, limit } => {
            let r = c
                .list_datasets(with_resource(
                    ListDatasetsRequest { after, limit },
                    DATASETS,
                    None,
                ))
                .await
                .map_err(status_error)?
                .into_inner();
            show::list(json, &r)
        }
        Show { name } => info(get(c, &name).await?),
        Close { name, if_version } => {
            info(change(c, name, if_version, Change::Close(NoArguments {})).await?)
        }
        Reopen { name, if_version } => {
            info(change(c, name, if_version, Change::Reopen(NoArguments {})).await?)
        }
        Publish { name, if_version } => {
            info(change(c, name, if_version, Change::Publish(NoArguments {})).await?)
        }
        Delete { name, if_version } => {
            change(c, name.clone(), if_version, Change::Delete(NoArguments {})).await?;
            if json {
                serde_json::json!({"deleted": name}).to_string()
            } else {
                format!("deleted dataset {name} (its files stay in their buckets)")
            }
        }
        Describe {
            name,
            description,
            rules,
            no_rules,
        } => {
            let now = get(c, &name).await?;
            let rules = if no_rules {
                Vec::new()
            } else if rules.is_empty() {
                now.rules.clone()
            } else {
                rules.iter().map(|r| rule(r)).collect::<Result<_, _>>()?
            };
            let d = DatasetDescription {
                description: description.unwrap_or(now.description),
                rules,
            };
            // Made on the version read, so a change in between is not undone.
            info(change(c, name, now.version, Change::Describe(d)).await?)
        }
        Attach { name, files, from } => {
            let f = files_of(&files, from.as_deref())?;
            info(change(c, name, 0, Change::Attach(f)).await?)
        }
        Detach { name, files, from } => {
            let f = files_of(&files, from.as_deref())?;
            info(change(c, name, 0, Change::Detach(f)).await?)
        }
        Files { name, limit } => {
            let r = c
                .list_dataset_files(on(
                    ListDatasetFilesRequest {
                        name: name.clone(),
                        after: None,
                        limit,
                    },
                    &name,
                ))
                .await
                .map_err(status_error)?
                .into_inner();
            show::files(json, &r)
        }
        Manifest { name, limit } => {
            let r = c
                .get_manifest(on(
                    GetManifestRequest {
                        name: name.clone(),
                        after: None,
                        limit,
                    },
                    &name,
                ))
                .await
                .map_err(status_error)?
                .into_inner();
            show::manifest(json, &r)
        }
        Which { file: f } => {
            let f = file(&f)?;
            let r = c
                .file_datasets(with_resource(
                    FileDatasetsRequest {
                        bucket: f.bucket.clone(),
                        key: f.key.clone(),
                    },
                    &f.bucket,
                    Some(&f.key),
                ))
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                serde_json::json!({"datasets": r.datasets}).to_string()
            } else if r.datasets.is_empty() {
                "(in no dataset you may read)".into()
            } else {
                r.datasets.join("\n")
            }
        }
        Grant { name, user, level } => {
            let now = get(c, &name).await?;
            let mut grants: Vec<DatasetGrant> =
                now.grants.into_iter().filter(|g| g.user != user).collect();
            if level != "none" {
                grants.push(DatasetGrant { user, level });
            }
            let req = SetDatasetAccessRequest {
                name: name.clone(),
                grants,
                policy: now.policy,
                if_version: now.version,
            };
            info(
                c.set_dataset_access(on(req, &name))
                    .await
                    .map_err(status_error)?
                    .into_inner(),
            )
        }
        Policy { name, file } => {
            let policy = if file == "-" {
                String::new()
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let now = get(c, &name).await?;
            let req = SetDatasetAccessRequest {
                name: name.clone(),
                grants: now.grants,
                policy,
                if_version: now.version,
            };
            info(
                c.set_dataset_access(on(req, &name))
                    .await
                    .map_err(status_error)?
                    .into_inner(),
            )
        }
        Metadata { command } => metadata(c, json, command).await?,
        Card { name } => {
            let r = c
                .get_card(on(GetCardRequest { name: name.clone() }, &name))
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                r.json
            } else {
                r.markdown
            }
        }
        Readiness { name } => {
            let r = c
                .get_card(on(GetCardRequest { name: name.clone() }, &name))
                .await
                .map_err(status_error)?
                .into_inner();
            show::readiness(json, &r.readiness)
        }
        Search {
            filters,
            files,
            sort,
            desc,
            limit,
            cursor,
        } => {
            let target = if files { "files" } else { "datasets" };
            let req = SearchRequest {
                target: target.into(),
                filters,
                sort,
                descending: desc,
                limit,
                cursor,
            };
            let req = if files {
                with_resource(req, "", None)
            } else {
                with_resource(req, DATASETS, None)
            };
            let r = c.search(req).await.map_err(status_error)?.into_inner();
            show::search(json, &r)
        }
    })
}

async fn metadata(c: &mut Datasets, json: bool, cmd: MetadataCommand) -> anyhow::Result<String> {
    Ok(match cmd {
        MetadataCommand::Set { .. } | MetadataCommand::Remove { .. } => {
            let (name, package, document) = match cmd {
                MetadataCommand::Set {
                    name,
                    package,
                    file,
                } => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    (name, package, text)
                }
                MetadataCommand::Remove { name, package } => (name, package, String::new()),
                _ => bail!("not a change of a package"),
            };
            let req = SetMetadataRequest {
                name: name.clone(),
                package,
                // Empty removes the package.
                document,
                if_version: 0,
            };
            let d = c
                .set_metadata(on(req, &name))
                .await
                .map_err(status_error)?
                .into_inner();
            show::info(json, &d)
        }
        MetadataCommand::Get { name, package } => {
            let req = GetMetadataRequest {
                name: name.clone(),
                package: package.unwrap_or_default(),
            };
            let r = c
                .get_metadata(on(req, &name))
                .await
                .map_err(status_error)?
                .into_inner();
            show::metadata(json, &r)
        }
        MetadataCommand::Export { name, standard } => {
            let req = ExportMetadataRequest {
                name: name.clone(),
                standard,
            };
            c.export_metadata(on(req, &name))
                .await
                .map_err(status_error)?
                .into_inner()
                .document
        }
    })
}
