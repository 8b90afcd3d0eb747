//! What tests of the planes and protocols build on (feature `testkit`):
//! the catalogue and chunk stores in memory, complete enough to stand in
//! for the real ones, and the conformance suite every `Catalogue` passes.

mod mem_catalogue;
mod mem_chunks;
pub mod suite;

pub use mem_catalogue::{level_grant, MemCatalogue};
pub use mem_chunks::MemChunks;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::suite::{test_all, Builder};
    use super::MemCatalogue;
    use crate::catalogue::Catalogue;
    use crate::clock::ManualClock;
    use crate::SharedClock;

    struct InMemory;

    #[async_trait]
    impl Builder for InMemory {
        async fn build(&self) -> (Arc<dyn Catalogue>, SharedClock) {
            let clock = ManualClock::starting_now();
            (Arc::new(MemCatalogue::new(clock.clone())), clock)
        }
    }

    #[tokio::test]
    async fn the_in_memory_catalogue_conforms() {
        test_all(&InMemory).await;
    }

    #[tokio::test]
    async fn chunk_references_follow_versions_and_parts() {
        use crate::catalogue::{NewBucket, WriteCondition};
        use crate::records::{ChunkRef, MultipartUpload, ObjectRecord, PartRecord, Versioning};
        let clock = ManualClock::starting_now();
        let c = MemCatalogue::new(clock.clone());
        c.create_bucket("refs", "alice", 1, &NewBucket::default())
            .await
            .expect("bucket");
        let version = |seed: u8| ObjectRecord {
            size: 1,
            blake3: Some([seed; 32]),
            chunks: vec![ChunkRef {
                hash: [seed; 32],
                size: 1,
            }],
            ingest_site: 1,
            version_id: crate::ids::new_version_id(i64::from(seed)),
            ..Default::default()
        };
        let put = |seed| c.commit_object("refs", "k", version(seed), &WriteCondition::Always);
        put(1).await.expect("put");
        assert_eq!(c.references(1, &[1; 32]), 1);
        put(2).await.expect("overwrite");
        assert_eq!(c.references(1, &[1; 32]), 0);
        assert_eq!(
            c.reclaimable(1),
            vec![[1; 32]],
            "the overwritten chunk goes"
        );
        c.set_versioning("refs", Versioning::Enabled)
            .await
            .expect("versioning");
        put(3).await.expect("a new version");
        assert_eq!(
            c.references(1, &[2; 32]),
            1,
            "a noncurrent version keeps its chunk"
        );
        c.delete_version("refs", "k", "null", false)
            .await
            .expect("remove the null version");
        assert_eq!(c.references(1, &[2; 32]), 0);
        assert_eq!(c.references(2, &[3; 32]), 0, "no replica at site 2");
        let upload = MultipartUpload {
            upload_id: "u".into(),
            bucket: "refs".into(),
            key: "big".into(),
            ingest_site: 1,
            ..Default::default()
        };
        c.create_upload(upload).await.expect("upload");
        let part = PartRecord {
            part_number: 1,
            chunks: vec![ChunkRef {
                hash: [9; 32],
                size: 1,
            }],
            ..Default::default()
        };
        c.put_part("u", part).await.expect("part");
        assert_eq!(
            c.references(1, &[9; 32]),
            1,
            "a stored part holds its chunk"
        );
        c.abort_upload("u").await.expect("abort");
        let mut gone = c.reclaimable(1);
        gone.sort();
        assert_eq!(gone, vec![[1; 32], [2; 32], [9; 32]]);
    }
}
