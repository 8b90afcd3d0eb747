//! How sites and S3 regions relate.
//!
//! Each site is an S3 region of its own, named after the site in lower case
//! (`Beijing` is `beijing`), and the federation has one more, its default
//! region (`us-east-1` unless configured: what clients sign for when no
//! region is set). Every endpoint accepts a signature for any of them,
//! because a bucket is reachable at every site whichever site it lives at.
//!
//! What Meridian reports as a bucket's region (GetBucketLocation,
//! `x-amz-bucket-region`, ListBuckets) is the region of the site it ingests
//! at, so a client that re-signs for the region it was told (s3cmd does)
//! signs for one that is accepted. A signature scoped to any other region is
//! refused before anything runs, as AWS refuses it, naming the expected
//! region.

use http::{HeaderMap, Uri};
use meridian_placement::Topology;
use s3s::{S3Error, S3ErrorCode};

pub use meridian_core::regions::{is_region_name, site_region, DEFAULT_REGION};

/// The federation's regions: its default and one per site.
#[derive(Debug, Clone)]
pub struct Regions {
    default: String,
    /// (site id, region name)
    sites: Vec<(u32, String)>,
}

impl Regions {
    /// The regions of `topology`'s sites and `default` (checked by the
    /// caller with [`is_region_name`]).
    pub fn new(topology: &Topology, default: &str) -> Regions {
        Regions {
            default: default.to_string(),
            sites: topology
                .sites()
                .iter()
                .map(|s| (s.id.0, site_region(&s.name)))
                .collect(),
        }
    }

    pub fn default_region(&self) -> &str {
        &self.default
    }

    /// The region of site `id`; the default region for an unknown site.
    pub fn of_site(&self, id: u32) -> &str {
        self.sites
            .iter()
            .find(|(s, _)| *s == id)
            .map_or(self.default.as_str(), |(_, r)| r.as_str())
    }

    /// The site whose region `region` is.
    pub fn site_of(&self, region: &str) -> Option<u32> {
        self.sites
            .iter()
            .find(|(_, r)| r == region)
            .map(|(s, _)| *s)
    }

    pub fn accepts(&self, region: &str) -> bool {
        region == self.default || self.site_of(region).is_some()
    }

    /// The region a SigV4 request is signed for, if this federation does
    /// not have it (with `true` for a presigned URL). Requests without a
    /// SigV4 scope (SigV2, anonymous) have none.
    pub fn wrong_region(&self, headers: &HeaderMap, uri: &Uri) -> Option<(String, bool)> {
        signed_region(headers, uri).filter(|(region, _)| !self.accepts(region))
    }
}

/// AWS's refusal of a request signed for `region` where `expected` was due.
pub fn wrong_region_error(region: &str, presigned: bool, expected: &str) -> S3Error {
    if presigned {
        S3Error::with_message(
            S3ErrorCode::AuthorizationQueryParametersError,
            format!(
                "Error parsing the X-Amz-Credential parameter; the region '{region}' is wrong; expecting '{expected}'"
            ),
        )
    } else {
        S3Error::with_message(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!(
                "The authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'"
            ),
        )
    }
}

/// The region of a SigV4 credential scope (`AK/DATE/REGION/s3/aws4_request`),
/// from the `Authorization` header or the `X-Amz-Credential` query
/// parameter (then `true`: presigned).
fn signed_region(headers: &HeaderMap, uri: &Uri) -> Option<(String, bool)> {
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
        let cred = rest
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("Credential="))?;
        return scope_region(cred).map(|r| (r, false));
    }
    let query = uri.query()?;
    let cred = query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("X-Amz-Credential").then_some(v)
    })?;
    let cred = urlencoding::decode(cred).ok()?;
    scope_region(&cred).map(|r| (r, true))
}

fn scope_region(credential: &str) -> Option<String> {
    let mut parts = credential.rsplitn(5, '/');
    let _request = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    Some(region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Regions {
        Regions {
            default: DEFAULT_REGION.into(),
            sites: vec![(1, "beijing".into()), (2, "huairou".into())],
        }
    }

    fn header(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            auth.parse().expect("header value"),
        );
        h
    }

    #[test]
    fn site_names_become_region_names() {
        assert_eq!(site_region("Beijing"), "beijing");
        assert_eq!(site_region("Dao Cheng_2"), "dao-cheng-2");
        assert!(is_region_name("us-east-1"));
        assert!(!is_region_name("Beijing"));
        assert!(!is_region_name(""));
    }

    #[test]
    fn the_default_and_every_site_region_are_accepted() {
        let r = regions();
        let uri: Uri = "/b/k".parse().expect("uri");
        for region in ["us-east-1", "beijing", "huairou"] {
            let h = header(&format!(
                "AWS4-HMAC-SHA256 Credential=AK/20261207/{region}/s3/aws4_request, SignedHeaders=host, Signature=00"
            ));
            assert_eq!(r.wrong_region(&h, &uri), None, "{region}");
        }
        assert_eq!(r.of_site(2), "huairou");
        assert_eq!(r.of_site(9), "us-east-1");
        assert_eq!(r.site_of("beijing"), Some(1));
    }

    #[test]
    fn other_regions_are_refused_naming_the_expected_one() {
        let r = regions();
        let uri: Uri = "/b/k".parse().expect("uri");
        let h = header(
            "AWS4-HMAC-SHA256 Credential=AK/20261207/eu-west-1/s3/aws4_request,SignedHeaders=host,Signature=00",
        );
        assert_eq!(
            r.wrong_region(&h, &uri),
            Some(("eu-west-1".to_string(), false))
        );
        let e = wrong_region_error("eu-west-1", false, "beijing");
        assert_eq!(e.code(), &S3ErrorCode::AuthorizationHeaderMalformed);
        assert!(e.message().unwrap_or("").contains("expecting 'beijing'"));
        let presigned: Uri =
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261207%2Fmars-1%2Fs3%2Faws4_request&X-Amz-Signature=00"
                .parse()
                .expect("uri");
        assert_eq!(
            r.wrong_region(&HeaderMap::new(), &presigned),
            Some(("mars-1".to_string(), true))
        );
        let e = wrong_region_error("mars-1", true, "us-east-1");
        assert_eq!(e.code(), &S3ErrorCode::AuthorizationQueryParametersError);
        // SigV2 and anonymous requests carry no region.
        assert_eq!(r.wrong_region(&header("AWS AK:c2ln"), &uri), None);
        assert_eq!(r.wrong_region(&HeaderMap::new(), &uri), None);
    }
}
