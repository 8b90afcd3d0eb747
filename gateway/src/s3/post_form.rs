//! Browser-form uploads (POST Object): the fields s3s does not read. s3s
//! checks the form's policy and signature and hands the object over, but
//! reads the ACL and tags from fields named as headers (`x-amz-acl`,
//! `x-amz-tagging`), where AWS's forms name them `acl` and `tagging` (the
//! latter XML), and leaves `${filename}` in the key. The listener reads the
//! fields ahead of the file (bounded), passes what the operation needs as
//! headers of its own (any a client sent are dropped first), and hands the
//! body on unchanged.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;

/// What the listener found in a form, for the operation.
pub const ACL_HEADER: &str = "x-meridian-post-acl";
pub const TAGGING_HEADER: &str = "x-meridian-post-tagging";
pub const FILENAME_HEADER: &str = "x-meridian-post-filename";

/// The form's fields are read up to here; a form whose file starts later
/// is left to s3s, which refuses fields that large.
const MAX_FIELDS_BYTES: usize = 64 * 1024;

fn boundary<B>(req: &Request<B>) -> Option<String> {
    let ct = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let mime: mime::Mime = ct.parse().ok()?;
    (mime.type_() == mime::MULTIPART && mime.subtype() == mime::FORM_DATA)
        .then(|| mime.get_param(mime::BOUNDARY).map(|b| b.to_string()))
        .flatten()
}

/// A `name="..."` parameter of a Content-Disposition value.
fn disposition_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// A form's fields (lower-case names, values) before its file, and the
/// file's name.
type FormHead = (Vec<(String, String)>, Option<String>);

/// The fields of a form prefix (the file's part: its file name, and the
/// end of the fields). `None`: the file's part has not started in `buf`.
fn fields_before_file(buf: &[u8], boundary: &str) -> Option<FormHead> {
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(buf);
    let mut fields = Vec::new();
    for part in text.split(delim.as_str()).skip(1) {
        let part = part.strip_prefix("\r\n")?;
        let (head, body) = part.split_once("\r\n\r\n")?;
        let disposition = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then(|| v.trim().to_string())
        })?;
        let name = disposition_param(&disposition, "name")?.to_ascii_lowercase();
        if name == "file" {
            return Some((
                fields,
                disposition_param(&disposition, "filename").map(str::to_string),
            ));
        }
        let value = body.strip_suffix("\r\n").unwrap_or(body);
        fields.push((name, value.to_string()));
    }
    None
}

/// The request with the form's fields read ahead (see the module), or as
/// it came when it is not a form upload.
pub async fn prepare(
    req: Request<hyper::body::Incoming>,
) -> Result<Request<s3s::Body>, hyper::Error> {
    let (mut parts, body) = req.into_parts();
    for name in [ACL_HEADER, TAGGING_HEADER, FILENAME_HEADER] {
        parts.headers.remove(name);
    }
    let probe = Request::from_parts(parts, ());
    let Some(boundary) = boundary(&probe).filter(|_| probe.method() == Method::POST) else {
        return Ok(probe.map(|()| s3s::Body::from(body)));
    };
    let (mut parts, ()) = probe.into_parts();
    let mut body = body;
    let mut buf = BytesMut::new();
    let mut found = None;
    while buf.len() < MAX_FIELDS_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
        if let Some(f) = fields_before_file(&buf, &boundary) {
            found = Some(f);
            break;
        }
    }
    if let Some((fields, filename)) = found {
        let set = |h: &mut http::HeaderMap, name: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(&urlencoding::encode(v)) {
                h.insert(name, v);
            }
        };
        for (name, value) in &fields {
            match name.as_str() {
                "acl" => set(&mut parts.headers, ACL_HEADER, value),
                "tagging" => set(&mut parts.headers, TAGGING_HEADER, value),
                _ => {}
            }
        }
        if let Some(f) = filename {
            set(&mut parts.headers, FILENAME_HEADER, &f);
        }
    }
    let head: Bytes = buf.freeze();
    let rest = http_body_util::BodyStream::new(body).filter_map(|f| async move {
        match f {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(e)),
        }
    });
    let stream = futures::stream::once(async move { Ok::<_, hyper::Error>(head) }).chain(rest);
    let body = http_body_util::StreamBody::new(stream.map(|r| r.map(hyper::body::Frame::data)));
    Ok(Request::from_parts(parts, s3s::Body::http_body(body)))
}

/// s3s answers a form upload (its redirect, its PostResponse) with the
/// key as the form gave it; AWS names the object stored, `${filename}`
/// replaced.
pub async fn fill_filename(resp: &mut http::Response<s3s::Body>, filename: &str) {
    const MAX_ANSWER: usize = 64 * 1024;
    let encoded_var = "%24%7Bfilename%7D";
    if let Some(loc) = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| l.contains(encoded_var))
    {
        let fixed = loc.replace(encoded_var, &urlencoding::encode(filename));
        if let Ok(v) = HeaderValue::from_str(&fixed) {
            resp.headers_mut().insert(http::header::LOCATION, v);
        }
    }
    if resp.status() != http::StatusCode::CREATED {
        return;
    }
    let Ok(xml) = resp.body_mut().store_all_limited(MAX_ANSWER).await else {
        return;
    };
    let escaped = filename
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let text = String::from_utf8_lossy(&xml).replace("${filename}", &escaped);
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(text);
}

/// s3s refuses a form whose field breaks a policy condition with 400
/// `InvalidPolicyDocument`; AWS with 403 `AccessDenied` ("Invalid according
/// to Policy: ..."), as for an expired policy.
pub async fn refusal_as_aws(resp: &mut http::Response<s3s::Body>) {
    const MAX_ANSWER: usize = 64 * 1024;
    if resp.status() != http::StatusCode::BAD_REQUEST {
        return;
    }
    let Ok(xml) = resp.body_mut().store_all_limited(MAX_ANSWER).await else {
        return;
    };
    let text = String::from_utf8_lossy(&xml).into_owned();
    let condition = text.contains("<Code>InvalidPolicyDocument</Code>")
        && text.contains("<Message>Policy condition");
    if !condition {
        *resp.body_mut() = s3s::Body::from(text);
        return;
    }
    let message = text
        .split_once("<Message>")
        .and_then(|(_, m)| m.split_once("</Message>"))
        .map(|(m, _)| {
            m.replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        })
        .unwrap_or_default();
    let e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {message}"),
    );
    *resp = super::errors::error_response(&e);
}

/// A value the listener passed on.
pub fn passed(headers: &http::HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    urlencoding::decode(v).ok().map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n--XX\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\npublic-read\r\n--XX\r\nContent-Disposition: form-data; name=\"Tagging\"\r\n\r\n<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"run 1.h5\"\r\nContent-Type: application/octet-stream\r\n\r\nDATA";

    #[test]
    fn fields_before_the_file_are_found() {
        let (fields, filename) = fields_before_file(FORM.as_bytes(), "XX").expect("complete");
        assert_eq!(filename.as_deref(), Some("run 1.h5"));
        assert_eq!(fields[0], ("key".into(), "uploads/${filename}".into()));
        assert_eq!(fields[1], ("acl".into(), "public-read".into()));
        assert_eq!(fields[2].0, "tagging");
        // Until the file's part starts, there is nothing to say yet.
        let cut = FORM.find("name=\"file\"").expect("file part");
        assert!(fields_before_file(&FORM.as_bytes()[..cut], "XX").is_none());
    }
}
