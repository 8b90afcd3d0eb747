//! ListMultipartUploads: a bucket's uploads in progress, in key order and,
//! for one key, in order of initiation (upload ids begin with their
//! creation time), with prefix, delimiter, key and upload-id markers.

use super::errors::OrS3;
use meridian_core::records::MultipartUpload as UploadRecord;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::list::{page_size, url_encode, wants_url};
use super::{owner, timestamp, MeridianS3};

/// What one page holds.
#[derive(Debug, Default, PartialEq)]
pub struct Selected {
    pub uploads: Vec<UploadRecord>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
}

/// Picks a page from all of a bucket's uploads.
pub fn select(
    mut all: Vec<UploadRecord>,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    upload_id_marker: Option<&str>,
    max: usize,
) -> Selected {
    all.retain(|u| u.key.starts_with(prefix));
    all.sort_by(|a, b| a.key.cmp(&b.key).then(a.upload_id.cmp(&b.upload_id)));
    let after = |u: &UploadRecord| match (key_marker, upload_id_marker) {
        (None, _) => true,
        (Some(k), None) => u.key.as_str() > k,
        (Some(k), Some(id)) => u.key.as_str() > k || (u.key == k && u.upload_id.as_str() > id),
    };
    let mut out = Selected::default();
    let mut n = 0;
    for u in all.into_iter().filter(after) {
        let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            u.key[prefix.len()..]
                .find(d)
                .map(|i| u.key[..prefix.len() + i + d.len()].to_string())
        });
        match rolled {
            Some(p) if out.prefixes.last() == Some(&p) => continue,
            // A prefix the key marker already passed was listed before.
            Some(p) if key_marker.is_some_and(|k| p.as_str() <= k) => continue,
            _ => {}
        }
        if n == max {
            out.truncated = true;
            break;
        }
        n += 1;
        match rolled {
            Some(p) => out.prefixes.push(p),
            None => out.uploads.push(u),
        }
    }
    out
}

impl MeridianS3 {
    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = page_size(input.max_uploads)?;
        let all = self
            .gateway
            .catalogue()
            .list_uploads(&input.bucket)
            .await
            .or_s3()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = select(
            all,
            &prefix,
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            input.upload_id_marker.as_deref(),
            max,
        );
        let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let (next_key, next_id) = match page.uploads.last() {
            Some(u) if page.truncated => (Some(enc(&u.key)), Some(u.upload_id.clone())),
            _ => (None, None),
        };
        let uploads = page
            .uploads
            .iter()
            .map(|u| MultipartUpload {
                initiated: Some(timestamp(u.created_ms)),
                initiator: Some(Initiator {
                    display_name: Some(u.owner.clone()),
                    id: Some(u.owner.clone()),
                }),
                key: Some(enc(&u.key)),
                owner: Some(owner(&u.owner)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id.clone()),
                ..Default::default()
            })
            .collect();
        let common_prefixes = page
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p)),
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            common_prefixes: Some(common_prefixes),
            delimiter: super::list::given(input.delimiter).map(|d| enc(&d)),
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: input.key_marker.map(|k| enc(&k)),
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            prefix: Some(enc(&prefix)),
            upload_id_marker: input.upload_id_marker,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(key: &str, id: &str) -> UploadRecord {
        UploadRecord {
            key: key.into(),
            upload_id: id.into(),
            ..Default::default()
        }
    }

    fn keys(s: &Selected) -> Vec<(String, String)> {
        s.uploads
            .iter()
            .map(|u| (u.key.clone(), u.upload_id.clone()))
            .collect()
    }

    #[test]
    fn key_order_then_initiation_with_markers() {
        let all = vec![up("b", "2"), up("a", "3"), up("b", "1"), up("c/x", "4")];
        let p = select(all.clone(), "", None, None, None, 2);
        assert_eq!(
            keys(&p),
            [("a".into(), "3".into()), ("b".into(), "1".into())]
        );
        assert!(p.truncated);
        let p = select(all.clone(), "", None, Some("b"), Some("1"), 2);
        assert_eq!(
            keys(&p),
            [("b".into(), "2".into()), ("c/x".into(), "4".into())]
        );
        assert!(!p.truncated);
        let p = select(all, "", None, Some("b"), None, 10);
        assert_eq!(keys(&p), [("c/x".into(), "4".into())]);
    }

    #[test]
    fn delimiter_rolls_up_prefixes_once() {
        let all = vec![
            up("raw/1", "1"),
            up("raw/2", "2"),
            up("top", "3"),
            up("z/1", "4"),
        ];
        let p = select(all.clone(), "", Some("/"), None, None, 10);
        assert_eq!(p.prefixes, ["raw/", "z/"]);
        assert_eq!(keys(&p), [("top".into(), "3".into())]);
        let p = select(all, "raw/", Some("/"), None, None, 10);
        assert!(p.prefixes.is_empty());
        assert_eq!(p.uploads.len(), 2);
    }
}
