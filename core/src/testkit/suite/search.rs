//! Search: the same pages from both catalogues, kept with every write.

use super::*;
use crate::dataset::{DatasetChange, DatasetKind, MetadataDoc, NewDataset};
use crate::search::{parse_filter, Query, SearchPage, Target};

async fn file(
    c: &dyn Catalogue,
    clock: &SharedClock,
    key: &str,
    (seed, size): (u8, u32),
    format: &str,
    meta: &[(&str, &str)],
) -> Outcome {
    let mut rec = version(clock, seed, size);
    rec.file_format = format.into();
    rec.user_meta = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.commit_object("bkt", key, rec, &WriteCondition::Always)
        .await
        .map(|_| ())
        .map_err(|e| format!("put {key}: {e}"))
}

fn query(target: Target, filters: &[&str], sort: Option<&str>, limit: usize) -> Query {
    Query {
        target,
        filters: filters
            .iter()
            .map(|f| parse_filter(target, f).expect("filter parses"))
            .collect(),
        sort: sort.map(String::from),
        descending: false,
        limit,
        after: None,
    }
}

fn keys(p: &SearchPage) -> Vec<&str> {
    p.files.iter().map(|(_, k, _)| k.as_str()).collect()
}

pub(super) async fn searches_walk_their_indexes_and_check_every_filter(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "bkt").await?;
    file(c, clock, "raw/a.root", (1, 300), "ROOT", &[("run", "42")]).await?;
    file(c, clock, "raw/b.h5", (2, 100), "HDF5", &[("run", "42")]).await?;
    file(c, clock, "raw/c.root", (3, 200), "ROOT", &[("run", "43")]).await?;
    file(c, clock, "sim/d.root", (4, 400), "ROOT", &[]).await?;
    let s = |q: Query| async move { c.search(&q).await.map_err(|e| e.to_string()) };

    let p = s(query(
        Target::Files,
        &["format=ROOT", "size<=300"],
        None,
        10,
    ))
    .await?;
    // One value's entries come in (bucket, key) order.
    check!(keys(&p) == ["raw/a.root", "raw/c.root"], "{:?}", keys(&p));
    check!(p.walked == "index format" && p.next.is_none(), "{p:?}");
    let p = s(query(Target::Files, &["meta.run=42"], Some("size"), 10)).await?;
    check!(keys(&p) == ["raw/b.h5", "raw/a.root"], "{:?}", keys(&p));
    let mut q = query(Target::Files, &["bucket=bkt", "key^=raw/"], Some("key"), 2);
    q.descending = true;
    let p = s(q.clone()).await?;
    check!(keys(&p) == ["raw/c.root", "raw/b.h5"], "{:?}", keys(&p));
    q.after = p.next.clone();
    let p = s(q).await?;
    check!(keys(&p) == ["raw/a.root"] && p.next.is_none(), "{p:?}");

    // Kept with the write: an overwrite moves the file between values, a
    // delete takes it out.
    file(c, clock, "raw/a.root", (5, 50), "HDF5", &[]).await?;
    c.delete_object("bkt", "raw/c.root")
        .await
        .map_err(|e| e.to_string())?;
    let p = s(query(Target::Files, &["format=ROOT"], None, 10)).await?;
    check!(keys(&p) == ["sim/d.root"], "{:?}", keys(&p));
    let p = s(query(Target::Files, &["size<100"], None, 10)).await?;
    check!(keys(&p) == ["raw/a.root"], "{:?}", keys(&p));

    // Datasets by state and by their packages' fields.
    for (name, kw) in [("ds-one", "neutrino"), ("ds-two", "muon")] {
        c.create_dataset(NewDataset {
            name: name.into(),
            owner: "alice".into(),
            kind: DatasetKind::Project,
            description: String::new(),
            rules: vec![],
        })
        .await
        .map_err(|e| e.to_string())?;
        let doc = MetadataDoc {
            package: "dataset".into(),
            schema_version: 1,
            document: format!(r#"{{"keywords": ["{kw}", "juno"], "title": "t"}}"#),
            set_ms: 0,
        };
        c.change_dataset(name, DatasetChange::SetMetadata(doc), 0)
            .await
            .map_err(|e| e.to_string())?;
    }
    let names =
        |p: &SearchPage| -> Vec<String> { p.datasets.iter().map(|d| d.name.clone()).collect() };
    let p = s(query(
        Target::Datasets,
        &["dataset.keywords=juno"],
        None,
        10,
    ))
    .await?;
    check!(names(&p) == ["ds-one", "ds-two"], "{:?}", names(&p));
    c.change_dataset("ds-two", DatasetChange::Close, 0)
        .await
        .map_err(|e| e.to_string())?;
    let p = s(query(
        Target::Datasets,
        &["state=closed", "dataset.keywords=muon"],
        None,
        10,
    ))
    .await?;
    check!(names(&p) == ["ds-two"], "{:?}", names(&p));
    let p = s(query(Target::Datasets, &["state=open"], None, 10)).await?;
    check!(names(&p) == ["ds-one"], "{:?}", names(&p));
    c.change_dataset("ds-one", DatasetChange::Delete, 0)
        .await
        .map_err(|e| e.to_string())?;
    let p = s(query(
        Target::Datasets,
        &["dataset.keywords=neutrino"],
        None,
        10,
    ))
    .await?;
    check!(p.datasets.is_empty(), "{:?}", names(&p));

    let none = c
        .search(&query(Target::Files, &["replica=pending"], None, 10))
        .await;
    check!(
        matches!(none, Err(CoreError::InvalidArgument(_))),
        "{}",
        err(&none)
    );
    Ok(())
}
