#!/usr/bin/env python3
"""boto3 against Meridian where Meridian must answer as AWS answers: clients
with their default configuration at every site's endpoint (regions), a
bucket deleted with unfinished uploads in it, a retried
CompleteMultipartUpload, delete markers and null versions on reads, part
numbers, attributes, checksum types and expiry headers, listing edge cases,
bucket names taken. Success and error paths alike.

Usage: boto3_aws_answers.py --endpoints URL[,URL...] --sites NAME[,NAME...]
                            --access-key K --secret-key S
                            --user-key K --user-secret S   (a user's key)
Exits 0 when every check passes; else prints the failing check, exits 1.
"""

import argparse
import sys
import uuid

try:
    import boto3  # noqa: F401 - the environment check
    from botocore.exceptions import ClientError
    from s3check import check, client, default_client, expect_error, run_steps
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)

MIB = 1024 * 1024


def name(tag):
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def regions(a):
    """Default clients at each site: what a bucket reports as its region is
    a region every endpoint accepts."""
    default = [default_client(e, a.access_key, a.secret_key) for e in a.endpoints]
    for i, (s3, site) in enumerate(zip(default, a.sites)):
        b = name("region")
        s3.create_bucket(Bucket=b)
        want = site.lower()
        loc = s3.get_bucket_location(Bucket=b)["LocationConstraint"]
        check(loc == want, f"{site}: location {loc!r}, expected {want!r}")
        head = s3.head_bucket(Bucket=b)
        got = head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
        check(got == want, f"{site}: x-amz-bucket-region {got!r}")
        listed = {x["Name"]: x.get("BucketRegion") for x in s3.list_buckets()["Buckets"]}
        check(listed.get(b) == want, f"{site}: ListBuckets region {listed.get(b)!r}")
        s3.put_object(Bucket=b, Key="k", Body=b"hello")
        # A client signing for the region it was told, at another site.
        other = default[(i + 1) % len(default)]
        told = default_client(a.endpoints[(i + 1) % len(default)], a.access_key,
                              a.secret_key, region_name=loc)
        for c in (other, told):
            body = c.get_object(Bucket=b, Key="k")["Body"].read()
            check(body == b"hello", f"{site}: read back {body!r}")
        told.delete_object(Bucket=b, Key="k")
        s3.delete_bucket(Bucket=b)
    # A region the federation does not have is refused, naming the right one.
    wrong = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1,
                   region_name="eu-west-1")
    expect_error(lambda: wrong.list_buckets(), "AuthorizationHeaderMalformed", 400)


def delete_bucket_with_uploads(a):
    s3 = default_client(a.endpoints[0], a.access_key, a.secret_key)
    b = name("mpu-left")
    s3.create_bucket(Bucket=b)
    for k in ("a", "b/c"):
        up = s3.create_multipart_upload(Bucket=b, Key=k)["UploadId"]
        s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=1, Body=b"x" * 1000)
    # As a tool empties a bucket: objects and versions first (none), then
    # the bucket, which takes the unfinished uploads with it.
    check(not s3.list_objects_v2(Bucket=b).get("Contents"), "no objects expected")
    s3.delete_bucket(Bucket=b)
    expect_error(lambda: s3.head_bucket(Bucket=b), "404", 404)
    # The name is free again, and the new bucket has no uploads.
    s3.create_bucket(Bucket=b)
    check(not s3.list_multipart_uploads(Bucket=b).get("Uploads"), "uploads came back")
    # Objects still keep a bucket; its uploads then stay too.
    s3.put_object(Bucket=b, Key="kept", Body=b"1")
    up = s3.create_multipart_upload(Bucket=b, Key="z")["UploadId"]
    expect_error(lambda: s3.delete_bucket(Bucket=b), "BucketNotEmpty", 409)
    ups = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])]
    check(ups == [up], f"uploads after a refused delete: {ups}")
    s3.abort_multipart_upload(Bucket=b, Key="z", UploadId=up)
    s3.delete_object(Bucket=b, Key="kept")
    s3.delete_bucket(Bucket=b)


def complete_retried(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    b = name("mpu-retry")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    up = s3.create_multipart_upload(Bucket=b, Key="big", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for n, fill in ((1, b"a"), (2, b"b")):
        size = 5 * MIB if n == 1 else 1000
        r = s3.upload_part(Bucket=b, Key="big", UploadId=up, PartNumber=n,
                           Body=fill * size, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = {"Parts": parts}
    first = s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up, MultipartUpload=done)
    # The first answer was lost on the network: the client asks again.
    again = s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up, MultipartUpload=done)
    for field in ("ETag", "VersionId", "ChecksumCRC32", "Bucket", "Key"):
        check(first.get(field) == again.get(field),
              f"retry answered {field}={again.get(field)!r}, first {first.get(field)!r}")
    versions = s3.list_object_versions(Bucket=b).get("Versions", [])
    check(len(versions) == 1, f"a retry made another version: {len(versions)}")
    # A retry naming other parts is not the same completion.
    other = {"Parts": parts[:1]}
    expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up,
                                                      MultipartUpload=other),
                 "NoSuchUpload", 404)
    # Nor is one for another key.
    expect_error(lambda: s3.complete_multipart_upload(Bucket=b, Key="other", UploadId=up,
                                                      MultipartUpload=done),
                 "NoSuchUpload", 404)


def delete_markers_and_null_versions(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    b = name("markers")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="old", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    # Written before versioning: the null version, named so on reads.
    for r in (s3.head_object(Bucket=b, Key="old"), s3.get_object(Bucket=b, Key="old")):
        check(r.get("VersionId") == "null", f"pre-versioning object read as {r.get('VersionId')!r}")
    s3.put_object(Bucket=b, Key="k", Body=b"v1")
    gone = s3.delete_object(Bucket=b, Key="k")
    check(gone.get("DeleteMarker") is True and gone.get("VersionId"), f"DELETE answered {gone}")
    marker = gone["VersionId"]
    for call in (lambda: s3.head_object(Bucket=b, Key="k"), lambda: s3.get_object(Bucket=b, Key="k")):
        try:
            call()
            check(False, "a read of a deleted key succeeded")
        except ClientError as err:
            h = err.response["ResponseMetadata"]["HTTPHeaders"]
            check(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"{err}")
            check(h.get("x-amz-delete-marker") == "true", f"no x-amz-delete-marker: {h}")
            check(h.get("x-amz-version-id") == marker, f"marker id {h.get('x-amz-version-id')}")
    # By the marker's id: 405, the marker named, only DELETE allowed.
    try:
        s3.get_object(Bucket=b, Key="k", VersionId=marker)
        check(False, "a GET of a delete marker succeeded")
    except ClientError as err:
        h = err.response["ResponseMetadata"]["HTTPHeaders"]
        check(err.response["ResponseMetadata"]["HTTPStatusCode"] == 405, f"{err}")
        check(h.get("x-amz-delete-marker") == "true" and h.get("allow") == "DELETE", f"{h}")
    removed = s3.delete_object(Bucket=b, Key="k", VersionId=marker)
    check(removed.get("DeleteMarker") is True and removed.get("VersionId") == marker, f"{removed}")
    check(s3.get_object(Bucket=b, Key="k")["Body"].read() == b"v1", "the marker removed")
    # A key that never existed: 404 without marker headers.
    try:
        s3.head_object(Bucket=b, Key="never")
    except ClientError as err:
        h = err.response["ResponseMetadata"]["HTTPHeaders"]
        check("x-amz-delete-marker" not in h, f"marker header on a missing key: {h}")


def part_numbers(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    b = name("parts")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="single", Body=b"0123456789")
    r = s3.get_object(Bucket=b, Key="single", PartNumber=1)
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 206, "part 1 of a single PUT is 206")
    check(r["ContentRange"] == "bytes 0-9/10" and "PartsCount" not in r, f"{r}")
    expect_error(lambda: s3.get_object(Bucket=b, Key="single", PartNumber=2),
                 "InvalidPartNumber", 416)
    for bad in (0, 10001):
        expect_error(lambda: s3.get_object(Bucket=b, Key="single", PartNumber=bad),
                     "InvalidArgument", 400)
    expect_error(lambda: s3.get_object(Bucket=b, Key="single", PartNumber=1, Range="bytes=0-1"),
                 "InvalidRequest", 400)


def attributes_checksums_and_expiry(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    b = name("attrs")
    s3.create_bucket(Bucket=b)
    put = s3.put_object(Bucket=b, Key="logs/a", Body=b"x" * 100, ChecksumAlgorithm="CRC32")
    check(put.get("ChecksumType") == "FULL_OBJECT", f"PutObject ChecksumType {put.get('ChecksumType')}")
    got = s3.get_object_attributes(Bucket=b, Key="logs/a",
                                   ObjectAttributes=["ETag", "Checksum", "ObjectSize"])
    check(got["ETag"] == put["ETag"].strip('"'), f"attributes ETag {got['ETag']!r}")
    check(got["Checksum"].get("ChecksumType") == "FULL_OBJECT", f"{got['Checksum']}")
    # Lifecycle dates must be midnight UTC; days positive.
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "logs/"}}
    expect_error(lambda: s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={
        "Rules": [dict(rule, Expiration={"Date": "2030-01-01T12:00:00Z"})]}), "InvalidArgument", 400)
    expect_error(lambda: s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={
        "Rules": [dict(rule, Expiration={"Days": 0})]}), "InvalidArgument", 400)
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={
        "Rules": [dict(rule, ID="logs-30d", Expiration={"Days": 30})]})
    for r in (s3.head_object(Bucket=b, Key="logs/a"), s3.get_object(Bucket=b, Key="logs/a"),
              s3.put_object(Bucket=b, Key="logs/b", Body=b"y")):
        exp = r.get("Expiration", "")
        check(exp.startswith('expiry-date="') and exp.endswith('", rule-id="logs-30d"'),
              f"x-amz-expiration {exp!r}")
    s3.put_object(Bucket=b, Key="data/c", Body=b"z")
    check("Expiration" not in s3.head_object(Bucket=b, Key="data/c"), "no rule, no expiry")


def listings(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    b = name("lists")
    s3.create_bucket(Bucket=b)
    keys = ["a b/c", "a+b", "caf\u00e9", "x&y<z>", "p/q"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=b"1")
    # boto3 asks for url encoding and decodes: every key comes back as written.
    for lister in (s3.list_objects, s3.list_objects_v2):
        got = sorted(o["Key"] for o in lister(Bucket=b)["Contents"])
        check(got == sorted(keys), f"{lister.__name__}: {got}")
    r = s3.list_objects_v2(Bucket=b, Delimiter="")
    check("Delimiter" not in r and "CommonPrefixes" not in r and r["KeyCount"] == 5,
          f"an empty delimiter is no delimiter: {r.get('Delimiter')!r} {r.get('CommonPrefixes')}")
    r = s3.list_objects_v2(Bucket=b, ContinuationToken="", MaxKeys=2)
    check(r["KeyCount"] == 2 and r["Contents"][0]["Key"] == "a b/c",
          "an empty continuation token lists from the start")
    r = s3.list_objects_v2(Bucket=b, Delimiter="/")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["a b/", "p/"], f"{r['CommonPrefixes']}")


def bucket_names_taken(a):
    s3 = client(a.endpoints[0], a.access_key, a.secret_key, max_attempts=1)
    user = client(a.endpoints[0], a.user_key, a.user_secret, max_attempts=1)
    b = name("taken")
    user.create_bucket(Bucket=b)
    expect_error(lambda: user.create_bucket(Bucket=b), "BucketAlreadyOwnedByYou", 409)
    expect_error(lambda: s3.create_bucket(Bucket=b), "BucketAlreadyExists", 409)
    user.delete_bucket(Bucket=b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoints", required=True)
    p.add_argument("--sites", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--user-key", required=True)
    p.add_argument("--user-secret", required=True)
    a = p.parse_args()
    a.endpoints = a.endpoints.split(",")
    a.sites = a.sites.split(",")
    check(len(a.endpoints) == len(a.sites), "one site name per endpoint")
    steps = [("regions", regions), ("delete_bucket_with_uploads", delete_bucket_with_uploads),
             ("complete_retried", complete_retried),
             ("delete_markers_and_null_versions", delete_markers_and_null_versions),
             ("part_numbers", part_numbers),
             ("attributes_checksums_and_expiry", attributes_checksums_and_expiry),
             ("listings", listings), ("bucket_names_taken", bucket_names_taken)]
    run_steps([(label, lambda step=step: step(a)) for label, step in steps],
              "all boto3 AWS-answer checks passed")


if __name__ == "__main__":
    main()
