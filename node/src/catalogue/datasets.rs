//! Datasets over the metadata plane: each change is one command (the
//! state machine checks the core's rules against the record it holds);
//! reads are linearizable.

use meridian_core::dataset::{
    DatasetChange, DatasetRecord, DatasetState, FilePage, FileRef, ManifestEntry, MetadataDoc,
    NewDataset,
};
use meridian_core::CoreError;
use meridian_meta::dataset_records::{dataset_to, rules_to, state_to};
use meridian_meta::records::grants_to;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

use super::read::core_error;
use super::MetaCatalogue;

fn files_to(files: &[FileRef]) -> Vec<meridian_proto::v1::FileRef> {
    files
        .iter()
        .map(|f| meridian_proto::v1::FileRef {
            bucket: f.bucket.clone(),
            key: f.key.clone(),
        })
        .collect()
}

impl MetaCatalogue {
    pub(super) async fn create_dataset_cmd(&self, d: NewDataset) -> Result<(), CoreError> {
        // The state machine makes the record from these fields, at the
        // command's time.
        let record = dataset_to(&d.into_record(0));
        self.write(Op::CreateDataset(CreateDatasetCmd {
            dataset: Some(record),
            now_ms: self.clock.now_ms(),
        }))
        .await
    }

    pub(super) async fn dataset_read(&self, name: &str) -> Result<DatasetRecord, CoreError> {
        self.barrier()
            .await?
            .dataset(name)
            .map_err(core_error)?
            .ok_or_else(|| CoreError::NoSuchDataset(name.to_string()))
    }

    pub(super) async fn list_datasets_read(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<DatasetRecord>, CoreError> {
        self.barrier()
            .await?
            .datasets(after, limit)
            .map_err(core_error)
    }

    pub(super) async fn change_dataset_cmd(
        &self,
        name: &str,
        change: DatasetChange,
        if_version: u64,
    ) -> Result<(), CoreError> {
        let name = name.to_string();
        let now_ms = self.clock.now_ms();
        let op = match change {
            DatasetChange::Close | DatasetChange::Reopen => {
                let to = if change == DatasetChange::Close {
                    DatasetState::Closed
                } else {
                    DatasetState::Open
                };
                Op::SetDatasetState(SetDatasetStateCmd {
                    name,
                    state: state_to(to),
                    if_version,
                    now_ms,
                })
            }
            DatasetChange::Describe { description, rules } => {
                Op::DescribeDataset(DescribeDatasetCmd {
                    name,
                    description,
                    rules: rules_to(&rules),
                    if_version,
                    now_ms,
                })
            }
            DatasetChange::Attach(files) => Op::AttachFiles(AttachFilesCmd {
                name,
                files: files_to(&files),
                detach: false,
                now_ms,
                if_version,
            }),
            DatasetChange::Detach(files) => Op::AttachFiles(AttachFilesCmd {
                name,
                files: files_to(&files),
                detach: true,
                now_ms,
                if_version,
            }),
            DatasetChange::Publish => Op::PublishDataset(PublishDatasetCmd {
                name,
                if_version,
                now_ms,
            }),
            DatasetChange::Delete => Op::DeleteDataset(DeleteDatasetCmd { name, if_version }),
            DatasetChange::SetAccess { grants, policy } => {
                Op::SetDatasetAccess(SetDatasetAccessCmd {
                    name,
                    grants: grants_to(&grants),
                    policy,
                    if_version,
                    now_ms,
                })
            }
            DatasetChange::SetMetadata(m) => Op::SetDatasetMetadata(SetDatasetMetadataCmd {
                name,
                metadata: Some(DatasetMetadata {
                    package: m.package,
                    schema_version: m.schema_version,
                    document: m.document,
                    set_ms: 0,
                }),
                if_version,
                now_ms,
            }),
        };
        self.write(op).await
    }

    pub(super) async fn dataset_files_read(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<FilePage, CoreError> {
        let r = self.barrier().await?;
        let page = r
            .dataset_files(
                name,
                after.as_ref().map(|f| (f.bucket.as_str(), f.key.as_str())),
                limit,
            )
            .map_err(core_error)?;
        let file = |(bucket, key): (String, String)| FileRef { bucket, key };
        Ok(FilePage {
            files: page.files.into_iter().map(file).collect(),
            next_after: page.next_after.map(file),
        })
    }

    pub(super) async fn manifest_read(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>, CoreError> {
        self.barrier()
            .await?
            .manifest(
                name,
                after.as_ref().map(|f| (f.bucket.as_str(), f.key.as_str())),
                limit,
            )
            .map_err(core_error)
    }

    pub(super) async fn dataset_metadata_read(
        &self,
        name: &str,
    ) -> Result<Vec<MetadataDoc>, CoreError> {
        let r = self.barrier().await?;
        if r.dataset(name).map_err(core_error)?.is_none() {
            return Err(CoreError::NoSuchDataset(name.to_string()));
        }
        r.dataset_metadata(name).map_err(core_error)
    }

    pub(super) async fn file_datasets_read(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<String>, CoreError> {
        self.barrier()
            .await?
            .file_datasets(bucket, key)
            .map_err(core_error)
    }
}
