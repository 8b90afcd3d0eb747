#!/usr/bin/env python3
"""boto3 checks for versioning and bucket settings: versions and delete
markers (made, listed with the paginator, read and removed by id, the null
version under suspension), GET/HEAD by part number, bucket tagging, CORS
(configuration and a browser's preflight) and lifecycle configuration.
Success and error paths alike.

Usage: boto3_versions.py --endpoint URL --access-key K --secret-key S
Exits 0 when every check passes; else prints the failing check, exits 1.
"""

import argparse
import sys
import urllib.error
import urllib.request
import uuid

try:
    import boto3  # noqa: F401 - the environment check
    from botocore.exceptions import ClientError
    from s3check import CheckFailed, check, client, expect_error, run_steps
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)


def all_versions(s3, b, prefix=""):
    """[(key, version id, is marker, is latest)] via the paginator, 2 per page."""
    out = []
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=b, Prefix=prefix, PaginationConfig={"PageSize": 2})
    for page in pages:
        entries = [(v["Key"], v["VersionId"], False, v["IsLatest"], v["LastModified"])
                   for v in page.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"], True, m["IsLatest"], m["LastModified"])
                    for m in page.get("DeleteMarkers", [])]
        entries.sort(key=lambda e: (e[0], not e[3], -e[4].timestamp()))
        out += [e[:4] for e in entries]
    return out


def versioning(s3, b):
    check("Status" not in s3.get_bucket_versioning(Bucket=b), "versioning is off at first")
    s3.put_object(Bucket=b, Key="k", Body=b"zero")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    check(s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled", "Enabled")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
    check(s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read() == b"one", "GET v1")
    check(s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"zero",
          "GET the null version")
    check(s3.head_object(Bucket=b, Key="k")["VersionId"] == v2, "HEAD names the current version")
    expect_error(lambda: s3.get_object(Bucket=b, Key="k", VersionId="ffffffffffff0000"),
                 "NoSuchVersion", 404)
    marker = s3.delete_object(Bucket=b, Key="k")
    check(marker.get("DeleteMarker") is True, f"a delete marker: {marker}")
    expect_error(lambda: s3.get_object(Bucket=b, Key="k"), "NoSuchKey", 404)
    listed = all_versions(s3, b)
    check([e[1] for e in listed] == [marker["VersionId"], v2, v1, "null"], f"versions {listed}")
    check(listed[0][2] and listed[0][3], "the marker is the latest")
    check(s3.list_objects_v2(Bucket=b)["KeyCount"] == 0, "a marked key is not listed")
    expect_error(lambda: s3.delete_bucket(Bucket=b), "BucketNotEmpty", 409)
    s3.delete_object(Bucket=b, Key="k", VersionId=marker["VersionId"])
    check(s3.get_object(Bucket=b, Key="k")["Body"].read() == b"two", "the marker removed")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    check("VersionId" not in s3.put_object(Bucket=b, Key="k", Body=b"s"),
          "a suspended write is answered without a version id")
    check(s3.head_object(Bucket=b, Key="k")["VersionId"] == "null",
          "suspended writes are the null version")
    check(len(all_versions(s3, b)) == 3, "the null version replaced, v1 and v2 kept")
    expect_error(lambda: s3.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": "Off"}), "MalformedXML", 400)
    gone = s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": k, "VersionId": v} for k, v, _, _ in all_versions(s3, b)]})
    check(not gone.get("Errors") and len(gone["Deleted"]) == 3, f"DeleteObjects {gone}")
    check(all_versions(s3, b) == [], "every version removed")


def part_numbers(s3, b):
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    p1, p2 = b"a" * (5 * 1024 * 1024), b"b" * 1000
    parts = [{"PartNumber": n, "ETag": s3.upload_part(
        Bucket=b, Key="mp", UploadId=up, PartNumber=n, Body=d)["ETag"]}
        for n, d in [(1, p1), (2, p2)]]
    s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=b, Key="mp", PartNumber=2)
    check(got["Body"].read() == p2 and got["PartsCount"] == 2, "GET part 2")
    check(s3.head_object(Bucket=b, Key="mp", PartNumber=1)["ContentLength"] == len(p1),
          "HEAD part 1")
    try:
        s3.get_object(Bucket=b, Key="mp", PartNumber=3)
        raise CheckFailed("part 3 of 2 was served")
    except ClientError as err:
        check(err.response["ResponseMetadata"]["HTTPStatusCode"] == 416, f"part 3: {err}")


def bucket_tags(s3, b):
    expect_error(lambda: s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "experiment", "Value": "juno"}]})
    check(s3.get_bucket_tagging(Bucket=b)["TagSet"] == [{"Key": "experiment", "Value": "juno"}],
          "bucket tags")
    s3.delete_bucket_tagging(Bucket=b)
    expect_error(lambda: s3.get_bucket_tagging(Bucket=b), "NoSuchTagSet", 404)


def cors(s3, b, endpoint):
    expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["https://*.ihep.ac.cn"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["*"], "MaxAgeSeconds": 300}]})
    rules = s3.get_bucket_cors(Bucket=b)["CORSRules"]
    check(rules[0]["MaxAgeSeconds"] == 300, f"CORS rules {rules}")

    def preflight(origin, method):
        req = urllib.request.Request(f"{endpoint}/{b}/x", method="OPTIONS", headers={
            "Origin": origin, "Access-Control-Request-Method": method})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Access-Control-Allow-Origin")

    check(preflight("https://www.ihep.ac.cn", "PUT") == (200, "https://www.ihep.ac.cn"),
          "an allowed preflight")
    check(preflight("https://example.org", "PUT")[0] == 403, "another origin")
    check(preflight("https://www.ihep.ac.cn", "DELETE")[0] == 403, "another method")
    expect_error(lambda: s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}), "InvalidRequest", 400)
    s3.delete_bucket_cors(Bucket=b)
    check(preflight("https://www.ihep.ac.cn", "PUT")[0] == 403, "CORS removed")


def lifecycle(s3, b):
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=b),
                 "NoSuchLifecycleConfiguration", 404)
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"ID": "raw", "Status": "Enabled", "Filter": {"Prefix": "raw/"},
         "Expiration": {"Days": 30},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}},
        {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}},
        {"ID": "tagged", "Status": "Disabled",
         "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "scratch", "Value": "yes"}]}},
         "Expiration": {"Days": 1}}]})
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]}
    check(rules["raw"]["Expiration"]["Days"] == 30, f"raw rule {rules['raw']}")
    check(rules["raw"]["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] == 2, "kept")
    check(rules["uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 3, "abort")
    check(rules["tagged"]["Status"] == "Disabled", "disabled")
    check(rules["tagged"]["Filter"]["And"]["Tags"] == [{"Key": "scratch", "Value": "yes"}],
          f"tag filter {rules['tagged']}")
    expect_error(lambda: s3.put_bucket_lifecycle_configuration(
        Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""},
             "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]}),
        "NotImplemented", 501)
    s3.delete_bucket_lifecycle(Bucket=b)
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=b),
                 "NoSuchLifecycleConfiguration", 404)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    a = p.parse_args()
    s3 = client(a.endpoint, a.access_key, a.secret_key, max_attempts=1)
    steps = [("versioning", versioning), ("part_numbers", part_numbers),
             ("bucket_tags", bucket_tags), ("cors", lambda s, b: cors(s, b, a.endpoint)),
             ("lifecycle", lifecycle)]

    def fresh(step):
        def run():
            bucket = f"vers-{uuid.uuid4().hex[:10]}"
            s3.create_bucket(Bucket=bucket)
            step(s3, bucket)
        return run

    run_steps([(name, fresh(step)) for name, step in steps],
              "all boto3 versioning and bucket-setting checks passed")


if __name__ == "__main__":
    main()
