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

/// A form's fields (lower-case names, values) before its file, and the
/// file's name.
type FormHead = (Vec<(String, String)>, Option<String>);

/// Why a form is refused before s3s sees it.
#[derive(Debug)]
pub enum FormError {
    /// Not what s3s would read the same way.
    Malformed(&'static str),
    /// The client sent nothing for the idle timeout.
    Idle,
    Read(hyper::Error),
}

/// Lines ended by CRLF, as s3s splits a form (a bare LF stays in a line).
struct Lines<'a>(&'a [u8]);

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        let mut from = 0;
        while let Some(i) = self.0[from..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| i + from)
        {
            if i > 0 && self.0[i - 1] == b'\r' {
                let line = &self.0[..i - 1];
                self.0 = &self.0[i + 1..];
                return Some(line);
            }
            from = i + 1;
        }
        None
    }

    /// The bytes before the line `pat` (lines and their CRLFs), moving past it.
    fn split_to(&mut self, pat: &[u8]) -> Option<&'a [u8]> {
        let start = self.0;
        let mut len = 0usize;
        let mut lines = Lines(self.0);
        loop {
            let line = lines.next_line()?;
            if line == pat {
                self.0 = lines.0;
                return Some(&start[..len.min(start.len())]);
            }
            len = len.saturating_add(line.len()).saturating_add(2);
        }
    }
}

/// s3s's Content-Disposition grammar exactly: `form-data; name="N"` and
/// optionally `; filename="F"`, quotes not escaped.
fn disposition(v: &[u8]) -> Option<(&str, Option<&str>)> {
    let rest = v.strip_prefix(b"form-data; name=\"")?;
    let end = rest.iter().position(|b| *b == b'"').filter(|e| *e > 0)?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    let rest = &rest[end + 1..];
    if rest.is_empty() {
        return Some((name, None));
    }
    let rest = rest.strip_prefix(b"; filename=\"")?;
    let end = rest.iter().position(|b| *b == b'"').filter(|e| *e > 0)?;
    if end + 1 != rest.len() {
        return None;
    }
    Some((name, Some(std::str::from_utf8(&rest[..end]).ok()?)))
}

/// The fields of a form prefix read exactly as s3s reads them (so the
/// fields passed on are the ones s3s checks against the form's policy),
/// and the file's name. `Ok(None)`: the file's part is not in `buf` yet.
fn fields_before_file(buf: &[u8], boundary: &str) -> Result<Option<FormHead>, FormError> {
    let bad = |m| Err(FormError::Malformed(m));
    let pat = format!("--{boundary}");
    let mut lines = Lines(buf);
    let first = match lines.next_line() {
        None => return Ok(None),
        Some([]) => match lines.next_line() {
            None => return Ok(None),
            Some(l) => l,
        },
        Some(l) => l,
    };
    if first != pat.as_bytes() {
        return bad("the form does not start with its boundary");
    }
    let mut fields = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 2];
        let (used, parsed) = match httparse::parse_headers(lines.0, &mut headers) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return bad("a form part's headers do not parse"),
        };
        lines.0 = &lines.0[used..];
        let mut found = None;
        for h in parsed {
            if h.name.eq_ignore_ascii_case("content-disposition") {
                // s3s keeps the last; one only is taken here.
                if found.is_some() {
                    return bad("a form part has two Content-Disposition headers");
                }
                found = Some(h.value);
            }
        }
        let Some((name, filename)) = found.and_then(disposition) else {
            return bad("a form part's Content-Disposition is not form-data; name=\"...\"");
        };
        if name.eq_ignore_ascii_case("file") {
            return Ok(Some((fields, filename.map(str::to_string))));
        }
        let Some(raw) = lines.split_to(pat.as_bytes()) else {
            return Ok(None);
        };
        let raw = &raw[..raw.len().saturating_sub(2)];
        let Ok(value) = std::str::from_utf8(raw) else {
            return bad("a form field is not UTF-8");
        };
        fields.push((name.to_ascii_lowercase(), value.to_string()));
    }
}

/// The request with the form's fields read ahead (see the module), or as
/// it came when it is not a form upload.
pub async fn prepare(req: Request<hyper::body::Incoming>) -> Result<Request<s3s::Body>, FormError> {
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
    // The file's part starts with its header; until then there is nothing
    // to parse (only the new bytes are looked at, so tiny frames cost no
    // more than large ones).
    let marker = b"name=\"file\"";
    let mut seen_marker = false;
    while buf.len() < MAX_FIELDS_BYTES {
        let frame = tokio::time::timeout(super::body::BODY_IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| FormError::Idle)?;
        let before = buf.len();
        match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => return Err(FormError::Read(e)),
            None => break,
        }
        let from = before.saturating_sub(marker.len());
        seen_marker = seen_marker
            || buf[from..]
                .windows(marker.len())
                .any(|w| w.eq_ignore_ascii_case(marker));
        if seen_marker {
            if let Some(f) = fields_before_file(&buf, &boundary)? {
                found = Some(f);
                break;
            }
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

/// The answer to a form refused before s3s.
pub fn refusal(e: FormError) -> s3s::S3Error {
    match e {
        FormError::Malformed(m) => s3s::S3Error::with_message(
            s3s::S3ErrorCode::MalformedPOSTRequest,
            format!("The body of your POST request is not well-formed multipart/form-data: {m}."),
        ),
        FormError::Idle => s3s::S3Error::with_message(
            s3s::S3ErrorCode::RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period.",
        ),
        FormError::Read(e) => s3s::S3Error::with_message(
            s3s::S3ErrorCode::IncompleteBody,
            format!("the form could not be read: {e}"),
        ),
    }
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
        let (fields, filename) = fields_before_file(FORM.as_bytes(), "XX")
            .expect("well formed")
            .expect("complete");
        assert_eq!(filename.as_deref(), Some("run 1.h5"));
        assert_eq!(fields[0], ("key".into(), "uploads/${filename}".into()));
        assert_eq!(fields[1], ("acl".into(), "public-read".into()));
        assert_eq!(fields[2].0, "tagging");
        // Until the file's part starts, there is nothing to say yet.
        let cut = FORM.find("name=\"file\"").expect("file part");
        assert!(fields_before_file(&FORM.as_bytes()[..cut], "XX")
            .expect("well formed so far")
            .is_none());
    }

    #[test]
    fn what_s3s_would_read_differently_is_refused() {
        for bad in [
            // Two dispositions: s3s takes the last, a field needing no condition.
            "--XX\r\nContent-Disposition: form-data; name=\"acl\"\r\nContent-Disposition: form-data; name=\"x-ignore-a\"\r\n\r\npublic-read\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nD",
            // Not s3s's grammar.
            "--XX\r\nContent-Disposition: form-data;name=acl\r\n\r\npublic-read\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nD",
            // Something before the boundary.
            "junk\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nD",
        ] {
            assert!(
                matches!(fields_before_file(bad.as_bytes(), "XX"), Err(FormError::Malformed(_))),
                "{bad}"
            );
        }
        // A value with a bare LF and the boundary text inside a line is kept whole.
        let odd = "--XX\r\nContent-Disposition: form-data; name=\"tagging\"\r\n\r\na\nb --XX c\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nD";
        let (fields, _) = fields_before_file(odd.as_bytes(), "XX")
            .expect("well formed")
            .expect("complete");
        assert_eq!(
            fields,
            vec![("tagging".to_string(), "a\nb --XX c".to_string())]
        );
    }
}
