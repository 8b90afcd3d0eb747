#!/usr/bin/env python3
"""boto3 compatibility checks for issue 5's operations: conditional writes
and reads, CopyObject, checksums, tagging, GetObjectAttributes,
DeleteObjects, ListMultipartUploads, presigned GET and PUT, bucket policies
and per-user permissions. Success and error paths alike.

Usage: boto3_compat.py --endpoint URL --access-key K --secret-key S
                       --user-key K --user-secret S --user NAME
The root key administers; the user key belongs to NAME, who holds no grant
on the buckets this script creates until the script's policy gives one.
Exits 0 when every check passes; else prints the failing check, exits 1.
"""

import argparse
import base64
import hashlib
import json
import sys
import traceback
import urllib.error
import urllib.request
import uuid
import zlib

try:
    import boto3  # noqa: F401 - the environment check
    from botocore.exceptions import ClientError
    from s3check import CheckFailed, check, client, expect_error
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def conditional(s3, b):
    s3.put_object(Bucket=b, Key="c", Body=b"one", IfNoneMatch="*")
    expect_error(lambda: s3.put_object(Bucket=b, Key="c", Body=b"two", IfNoneMatch="*"),
                 "PreconditionFailed", 412)
    etag = s3.head_object(Bucket=b, Key="c")["ETag"]
    s3.put_object(Bucket=b, Key="c", Body=b"two", IfMatch=etag)
    expect_error(lambda: s3.put_object(Bucket=b, Key="c", Body=b"three", IfMatch=etag),
                 "PreconditionFailed", 412)
    check(s3.get_object(Bucket=b, Key="c")["Body"].read() == b"two", "conditional PUT")
    new = s3.head_object(Bucket=b, Key="c")["ETag"]
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfMatch=etag), "PreconditionFailed", 412)
    try:
        s3.get_object(Bucket=b, Key="c", IfNoneMatch=new)
        raise CheckFailed("If-None-Match with the current ETag succeeded")
    except ClientError as err:
        check(err.response["ResponseMetadata"]["HTTPStatusCode"] == 304, f"304: {err}")


def copies(s3, b):
    s3.put_object(Bucket=b, Key="src", Body=b"x" * 1000, ContentType="text/csv",
                  Metadata={"run": "1"})
    s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    h = s3.head_object(Bucket=b, Key="dst")
    check(h["ContentType"] == "text/csv" and h["Metadata"] == {"run": "1"}, f"COPY: {h}")
    s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"run": "2"})
    h = s3.head_object(Bucket=b, Key="dst")
    check(h["ContentType"] == "text/plain" and h["Metadata"] == {"run": "2"}, f"REPLACE: {h}")
    expect_error(lambda: s3.copy_object(Bucket=b, Key="src", CopySource={"Bucket": b, "Key": "src"}),
                 "InvalidRequest", 400)
    expect_error(lambda: s3.copy_object(Bucket=b, Key="d2", CopySource={"Bucket": b, "Key": "src"},
                                        CopySourceIfMatch='"00000000000000000000000000000000"'),
                 "PreconditionFailed", 412)


def checksums(s3, b):
    data = b"checksummed " * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    s3.put_object(Bucket=b, Key="crc", Body=data, ChecksumCRC32=crc)
    s3.put_object(Bucket=b, Key="sha", Body=data, ChecksumSHA256=sha)
    h = s3.head_object(Bucket=b, Key="crc", ChecksumMode="ENABLED")
    check(h.get("ChecksumCRC32") == crc, f"stored CRC32: {h.get('ChecksumCRC32')} != {crc}")
    h = s3.head_object(Bucket=b, Key="sha", ChecksumMode="ENABLED")
    check(h.get("ChecksumSHA256") == sha, "stored SHA256")
    bad = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    expect_error(lambda: s3.put_object(Bucket=b, Key="bad", Body=data, ChecksumCRC32=bad),
                 "BadDigest", 400)
    expect_error(lambda: s3.head_object(Bucket=b, Key="bad"), "404", 404)


def tagging(s3, b):
    s3.put_object(Bucket=b, Key="t", Body=b"t", Tagging="a=1&b=two")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=b, Key="t")["TagSet"]}
    check(tags == {"a": "1", "b": "two"}, f"tags {tags}")
    s3.put_object_tagging(Bucket=b, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    tags = s3.get_object_tagging(Bucket=b, Key="t")["TagSet"]
    check(tags == [{"Key": "c", "Value": "3"}], f"replaced {tags}")
    many = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    expect_error(lambda: s3.put_object_tagging(Bucket=b, Key="t", Tagging=many), "InvalidTag", 400)
    s3.delete_object_tagging(Bucket=b, Key="t")
    check(s3.get_object_tagging(Bucket=b, Key="t")["TagSet"] == [], "deleted tags")
    a = s3.get_object_attributes(Bucket=b, Key="t", ObjectAttributes=["ETag", "ObjectSize"])
    check(a["ObjectSize"] == 1 and a["ETag"], f"attributes {a}")


def batch_and_uploads(s3, b):
    for i in range(5):
        s3.put_object(Bucket=b, Key=f"batch/{i}", Body=b"b")
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": f"batch/{i}"} for i in range(5)]})
    check(sorted(d["Key"] for d in out.get("Deleted", [])) == [f"batch/{i}" for i in range(5)],
          f"DeleteObjects {out}")
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "batch/none"}], "Quiet": True})
    check(not out.get("Deleted") and not out.get("Errors"), f"quiet {out}")
    check("Contents" not in s3.list_objects_v2(Bucket=b, Prefix="batch/"), "batch deleted")
    ids = [s3.create_multipart_upload(Bucket=b, Key=k)["UploadId"] for k in ("up/a", "up/b", "other")]
    page = s3.list_multipart_uploads(Bucket=b, Prefix="up/", MaxUploads=1)
    check(page["IsTruncated"] and [u["Key"] for u in page["Uploads"]] == ["up/a"], f"page 1 {page}")
    page = s3.list_multipart_uploads(Bucket=b, Prefix="up/", KeyMarker=page["NextKeyMarker"],
                                     UploadIdMarker=page["NextUploadIdMarker"])
    check([u["Key"] for u in page["Uploads"]] == ["up/b"], f"page 2 {page}")
    for k, i in zip(("up/a", "up/b", "other"), ids):
        s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=i)
    check(not s3.list_multipart_uploads(Bucket=b).get("Uploads"), "all aborted")


def presigned(s3, b):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "pre"}, ExpiresIn=60)
    status, body = http("PUT", url, b"presigned")
    check(status == 200, f"presigned PUT: {status} {body[:300]!r} ({url})")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "pre"}, ExpiresIn=60)
    status, body = http("GET", url)
    check(status == 200 and body == b"presigned", f"presigned GET: {status}")
    status, _ = http("GET", url.replace("/pre?", "/other?"))
    check(status == 403, f"tampered presigned GET: {status}")


def permissions(root, user, name, b):
    root.put_object(Bucket=b, Key="raw/1", Body=b"r")
    expect_error(lambda: user.get_object(Bucket=b, Key="raw/1"), "AccessDenied", 403)
    expect_error(lambda: user.put_object(Bucket=b, Key="raw/2", Body=b"x"), "AccessDenied", 403)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [name]}, "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]},
        {"Effect": "Allow", "Principal": {"AWS": name}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{b}/raw/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{b}/raw/*"}]}
    root.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
    check(json.loads(root.get_bucket_policy(Bucket=b)["Policy"]) == policy, "policy round trip")
    check(user.get_object(Bucket=b, Key="raw/1")["Body"].read() == b"r", "policy read")
    user.put_object(Bucket=b, Key="raw/2", Body=b"x")
    expect_error(lambda: user.put_object(Bucket=b, Key="calib/1", Body=b"x"), "AccessDenied", 403)
    expect_error(lambda: user.delete_object(Bucket=b, Key="raw/2"), "AccessDenied", 403)
    expect_error(lambda: user.put_bucket_policy(Bucket=b, Policy=json.dumps(policy)), "AccessDenied", 403)
    expect_error(lambda: root.put_bucket_policy(Bucket=b, Policy='{"Statement": 1}'), "MalformedPolicy", 400)
    root.delete_bucket_policy(Bucket=b)
    expect_error(lambda: root.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404)
    expect_error(lambda: user.get_object(Bucket=b, Key="raw/1"), "AccessDenied", 403)
    mine = f"{name}-{uuid.uuid4().hex[:8]}"
    user.create_bucket(Bucket=mine)
    names = [x["Name"] for x in user.list_buckets()["Buckets"]]
    check(names == [mine], f"a user sees its own buckets only: {names}")
    user.delete_bucket(Bucket=mine)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--user-key", required=True)
    p.add_argument("--user-secret", required=True)
    a = p.parse_args()
    # One attempt: a failure is seen as it happened. SigV4 presigned URLs
    # (botocore presigns with SigV2 unless told).
    root = client(a.endpoint, a.access_key, a.secret_key, max_attempts=1, signature_version="s3v4")
    user = client(a.endpoint, a.user_key, a.user_secret, max_attempts=1, signature_version="s3v4")
    bucket = f"compat-{uuid.uuid4().hex[:10]}"
    root.create_bucket(Bucket=bucket)
    steps = [("conditional", lambda: conditional(root, bucket)),
             ("copies", lambda: copies(root, bucket)),
             ("checksums", lambda: checksums(root, bucket)),
             ("tagging", lambda: tagging(root, bucket)),
             ("batch_and_uploads", lambda: batch_and_uploads(root, bucket)),
             ("presigned", lambda: presigned(root, bucket)),
             ("permissions", lambda: permissions(root, user, a.user, bucket))]
    for name, step in steps:
        try:
            step()
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - report any failure with its step
            print(f"FAIL {name}", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
    print("all boto3 compatibility checks passed")


if __name__ == "__main__":
    main()
