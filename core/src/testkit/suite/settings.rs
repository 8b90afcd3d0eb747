//! Bucket settings and multipart uploads.

use super::*;

pub(super) async fn bucket_settings_read_back(c: &dyn Catalogue, _: &SharedClock) -> Outcome {
    bucket(c, "b").await?;
    let cors = vec![CorsRule {
        id: "r".into(),
        allowed_origins: vec!["*".into()],
        allowed_methods: vec!["GET".into()],
        max_age_seconds: Some(60),
        ..Default::default()
    }];
    let rules = vec![LifecycleRule {
        id: "old".into(),
        enabled: true,
        prefix: "logs/".into(),
        expiration_days: 7,
        ..Default::default()
    }];
    let tags = HashMap::from([("team".to_string(), "juno".to_string())]);
    c.set_bucket_cors("b", cors.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_lifecycle("b", rules.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_tags("b", tags.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_policy("b", "{\"Version\":\"2012-10-17\",\"Statement\":[]}")
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.cors == cors && b.lifecycle == rules && b.tags == tags,
        "{b:?}"
    );
    check!(b.policy.contains("2012-10-17"), "policy {:?}", b.policy);
    c.set_bucket_cors("b", Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_policy("b", "")
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.cors.is_empty() && b.policy.is_empty() && !b.lifecycle.is_empty(),
        "{b:?}"
    );
    let r = c.set_bucket_tags("nope", HashMap::new()).await;
    check!(matches!(r, Err(CoreError::NoSuchBucket(_))), "{}", err(&r));
    Ok(())
}

pub(super) fn upload(id: &str, bucket: &str, key: &str, clock: &SharedClock) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        created_ms: clock.now_ms(),
        ingest_site: SITE,
        owner: "alice".into(),
        ..Default::default()
    }
}

pub(super) fn part(n: u32, seed: u8, clock: &SharedClock) -> PartRecord {
    PartRecord {
        part_number: n,
        etag: format!("part-{seed}"),
        size: 50,
        chunks: vec![ChunkRef {
            hash: hash_of(seed),
            size: 50,
        }],
        created_ms: clock.now_ms(),
        ..Default::default()
    }
}

pub(super) async fn uploads_complete_into_objects_and_remember_the_answer(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    c.create_upload(upload("u1", "b", "big", clock))
        .await
        .map_err(|e| e.to_string())?;
    c.create_upload(upload("u2", "b", "other", clock))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        c.upload("u1").await.map(|u| u.key).ok().as_deref() == Some("big"),
        "upload read back"
    );
    c.put_part("u1", part(2, 20, clock))
        .await
        .map_err(|e| e.to_string())?;
    c.put_part("u1", part(1, 10, clock))
        .await
        .map_err(|e| e.to_string())?;
    c.put_part("u1", part(1, 11, clock))
        .await
        .map_err(|e| e.to_string())?;
    let parts = c.list_parts("u1").await.map_err(|e| e.to_string())?;
    let got: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    check!(
        got == [(1, "part-11".to_string()), (2, "part-20".to_string())],
        "{got:?}"
    );
    let mut listed: Vec<String> = c
        .list_uploads("b")
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|u| u.upload_id)
        .collect();
    listed.sort();
    check!(listed == ["u1", "u2"], "{listed:?}");
    let r = c.put_part("none", part(1, 1, clock)).await;
    check!(matches!(r, Err(CoreError::NoSuchUpload(_))), "{}", err(&r));
    let mut rec = version(clock, 11, 50);
    rec.size = 100;
    rec.etag = "whole-2".into();
    rec.parts = 2;
    rec.chunks = vec![part(1, 11, clock).chunks[0], part(2, 20, clock).chunks[0]];
    let done = c
        .complete_upload("u1", rec.clone())
        .await
        .map_err(|e| e.to_string())?;
    let obj = c.object("b", "big").await.map_err(|e| e.to_string())?;
    check!(
        obj.etag == "whole-2" && obj.version_id == done.version_id && obj.parts == 2,
        "{obj:?}"
    );
    let u = c.upload("u1").await;
    check!(
        matches!(u, Err(CoreError::NoSuchUpload(_))),
        "the upload outlived its completion: {}",
        err(&u)
    );
    let answer = c
        .completed_upload("u1")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no remembered answer")?;
    check!(
        answer.etag == "whole-2" && answer.version_id == done.version_id && answer.key == "big",
        "{answer:?}"
    );
    c.abort_upload("u2").await.map_err(|e| e.to_string())?;
    let again = c.abort_upload("u2").await;
    check!(
        matches!(again, Err(CoreError::NoSuchUpload(_))),
        "{}",
        err(&again)
    );
    check!(
        c.completed_upload("u2")
            .await
            .map_err(|e| e.to_string())?
            .is_none(),
        "an aborted upload has no answer"
    );
    Ok(())
}
