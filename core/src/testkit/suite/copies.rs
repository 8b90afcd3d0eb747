//! Server-side copies and their source.

use super::*;

pub(super) async fn a_copy_needs_its_source_unchanged(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    let src = put(c, clock, "b", "src", 1).await?;
    let from = CopySource {
        bucket: "b".into(),
        key: "src".into(),
        version_id: src.version_id.clone(),
    };
    let mut copy = version(clock, 1, 100);
    copy.chunks = src.chunks.clone();
    c.commit_copy("b", "dst", copy.clone(), &WriteCondition::Always, &from)
        .await
        .map_err(|e| format!("copy of an unchanged source: {e}"))?;
    put(c, clock, "b", "src", 2).await?;
    let mut again = version(clock, 1, 100);
    again.chunks = src.chunks.clone();
    let r = c
        .commit_copy("b", "dst2", again, &WriteCondition::Always, &from)
        .await;
    check!(
        matches!(r, Err(CoreError::PreconditionFailed(_))),
        "a replaced source: {}",
        err(&r)
    );
    let dst = c.object("b", "dst").await.map_err(|e| e.to_string())?;
    check!(dst.chunks == src.chunks, "{dst:?}");
    Ok(())
}
