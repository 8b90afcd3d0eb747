//! Server-side copies. When the source is complete at the copying site, the
//! copy is a new record over the same chunks (no byte moves; the chunks'
//! reference counts go up in the commit, which is refused if the source
//! changed meanwhile, so the chunks cannot have been released). Otherwise
//! the source is read (verified, through the links) and written at the
//! site as a new object.

use meridian_core::records::{ObjectRecord, ReplicaState, Versioning};

use crate::service::{NewObject, Objects};
use meridian_core::catalogue::CopySource;
use meridian_core::names::check_key;
use meridian_core::CoreError;

impl Objects {
    /// Copies `source` (read as `record`) to `dst`, at `site`.
    pub async fn copy_object(
        &self,
        site: u32,
        source: CopySource,
        record: ObjectRecord,
        dst: NewObject,
    ) -> Result<ObjectRecord, CoreError> {
        check_key(&dst.key)?;
        self.catalogue().bucket(&dst.bucket).await?;
        let here = record
            .replicas
            .iter()
            .any(|r| r.site == site && r.state == ReplicaState::Complete);
        if !here {
            let size = record.size;
            let body = self.read(site, record, 0, size);
            return self.put_object(site, dst, body, Some(size)).await;
        }
        let copy = ObjectRecord {
            size: record.size,
            blake3: record.blake3,
            etag: record.etag,
            content_type: dst.content_type,
            user_meta: dst.user_meta,
            owner: dst.owner,
            chunks: record.chunks,
            chunk_size: record.chunk_size,
            policy: String::new(),
            replicas: Vec::new(),
            created_ms: self.now_ms(),
            ingest_site: site,
            version_id: self.new_version_id(),
            parts: record.parts,
            expires_ms: 0,
            // The same bytes: the checksums the source was written with.
            checksums: record.checksums,
            tags: dst.tags,
            versioning: Versioning::Off, // the state machine's to decide
            delete_marker: false,
            part_sizes: record.part_sizes,
            checksum_type: record.checksum_type,
            ..Default::default()
        };
        let mut copy = copy;
        dst.protection.apply(&mut copy);
        self.catalogue()
            .commit_copy(&dst.bucket, &dst.key, copy, &dst.condition, &source)
            .await
    }
}
