#!/usr/bin/env python3
"""boto3 against a Meridian S3 endpoint: buckets, objects, ranges, listing
with pagination, multipart, metadata and error codes.

Usage: boto3_e2e.py --endpoint http://127.0.0.1:9000 [--access-key K] [--secret-key S]
(defaults from MERIDIAN_S3_ENDPOINT, MERIDIAN_ROOT_ACCESS_KEY, MERIDIAN_ROOT_SECRET_KEY).
Exits 0 when every check passes; otherwise prints the failing step and exits 1.
"""

import argparse
import hashlib
import io
import os
import sys
import traceback
import uuid

try:
    import boto3  # noqa: F401 - the environment check
    from boto3.s3.transfer import TransferConfig
    from s3check import CheckFailed, check, client, expect_error
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)

MIB = 1024 * 1024


def body_of(response):
    return response["Body"].read()


def step_buckets(s3, bucket):
    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(bucket in names, f"list_buckets {names} lacks {bucket}")


def step_objects(s3, bucket):
    data = os.urandom(300_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="obj/data.bin",
        Body=data,
        ContentType="application/x-hdf5",
        Metadata={"experiment": "besiii", "run": "7"},
    )
    md5 = hashlib.md5(data).hexdigest()
    check(put["ETag"].strip('"') == md5, f"PUT ETag {put['ETag']} is not MD5 {md5}")

    got = s3.get_object(Bucket=bucket, Key="obj/data.bin")
    check(body_of(got) == data, "GET returned different bytes")
    check(got["ContentType"] == "application/x-hdf5", f"GET ContentType {got['ContentType']}")
    check(got["Metadata"] == {"experiment": "besiii", "run": "7"}, f"GET Metadata {got['Metadata']}")

    head = s3.head_object(Bucket=bucket, Key="obj/data.bin")
    check(head["ContentLength"] == len(data), f"HEAD ContentLength {head['ContentLength']}")
    check(head["ETag"].strip('"') == md5, f"HEAD ETag {head['ETag']}")
    check(head["Metadata"] == {"experiment": "besiii", "run": "7"}, f"HEAD Metadata {head['Metadata']}")

    ranged = s3.get_object(Bucket=bucket, Key="obj/data.bin", Range="bytes=1000-1999")
    check(body_of(ranged) == data[1000:2000], "ranged GET returned different bytes")
    check(
        ranged["ContentRange"] == f"bytes 1000-1999/{len(data)}",
        f"ContentRange {ranged.get('ContentRange')}",
    )
    suffix = s3.get_object(Bucket=bucket, Key="obj/data.bin", Range="bytes=-100")
    check(body_of(suffix) == data[-100:], "suffix range returned different bytes")

    s3.delete_object(Bucket=bucket, Key="obj/data.bin")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="obj/data.bin"), "NoSuchKey", 404)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="obj/data.bin"), "404", 404)


def step_listing(s3, bucket):
    keys = sorted([f"list/{i:03d}" for i in range(25)] + [f"list/sub{i}/x" for i in range(3)] + ["list/a b+c"])
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    seen = []
    pages = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="list/", PaginationConfig={"PageSize": 7}):
        pages += 1
        contents = page.get("Contents", [])
        check(len(contents) <= 7, f"page of {len(contents)} keys with MaxKeys 7")
        seen.extend(o["Key"] for o in contents)
    check(seen == keys, f"paginated listing {seen} != {keys}")
    check(pages >= 5, f"{len(keys)} keys in pages of 7 came in {pages} pages")

    top = s3.list_objects_v2(Bucket=bucket, Prefix="list/", Delimiter="/")
    prefixes = sorted(p["Prefix"] for p in top.get("CommonPrefixes", []))
    check(prefixes == ["list/sub0/", "list/sub1/", "list/sub2/"], f"CommonPrefixes {prefixes}")
    direct = sorted(o["Key"] for o in top.get("Contents", []))
    check(direct == [k for k in keys if "/sub" not in k], f"keys beside the prefixes {direct}")

    after = s3.list_objects_v2(Bucket=bucket, Prefix="list/", StartAfter="list/020")
    got = [o["Key"] for o in after.get("Contents", [])]
    check(got == [k for k in keys if k > "list/020"], f"StartAfter listing {got}")

    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    left = s3.list_objects_v2(Bucket=bucket, Prefix="list/")
    check(left.get("KeyCount", 0) == 0, f"keys left after delete: {left.get('Contents')}")


def step_multipart(s3, bucket):
    parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(MIB + 3)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/manual", Metadata={"kind": "manual"})
    upload_id = up["UploadId"]
    parts = []
    for i, data in enumerate(parts_data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp/manual", UploadId=upload_id, PartNumber=i, Body=data)
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp/manual", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    check(done["ETag"].strip('"').endswith("-3"), f"multipart ETag {done['ETag']}")
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=bucket, Key="mp/manual")
    check(body_of(got) == whole, "multipart object reads back different bytes")
    check(got["Metadata"] == {"kind": "manual"}, f"multipart Metadata {got['Metadata']}")

    # boto3's managed transfer splits on its own, with parallel part uploads.
    data = os.urandom(18 * MIB + 5)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(data), bucket, "mp/managed", Config=config)
    head = s3.head_object(Bucket=bucket, Key="mp/managed")
    check(head["ContentLength"] == len(data), f"managed upload ContentLength {head['ContentLength']}")
    check(head["ETag"].strip('"').endswith("-3"), f"managed upload ETag {head['ETag']}")
    out = io.BytesIO()
    s3.download_fileobj(bucket, "mp/managed", out, Config=config)
    check(out.getvalue() == data, "managed download differs from managed upload")

    small = s3.create_multipart_upload(Bucket=bucket, Key="mp/small")
    small_parts = []
    for i in (1, 2):
        r = s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=small["UploadId"], PartNumber=i, Body=os.urandom(MIB))
        small_parts.append({"PartNumber": i, "ETag": r["ETag"]})
    expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="mp/small", UploadId=small["UploadId"], MultipartUpload={"Parts": small_parts}
        ),
        "EntityTooSmall",
        400,
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/small", UploadId=small["UploadId"])
    for key in ("mp/manual", "mp/managed"):
        s3.delete_object(Bucket=bucket, Key=key)


def step_errors(s3, bad_secret, unknown_key, bucket):
    expect_error(lambda: bad_secret.list_buckets(), "SignatureDoesNotMatch", 403)
    expect_error(lambda: bad_secret.put_object(Bucket=bucket, Key="k", Body=b"x"), "SignatureDoesNotMatch", 403)
    expect_error(lambda: unknown_key.list_buckets(), "InvalidAccessKeyId", 403)
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    expect_error(lambda: s3.get_object(Bucket=missing, Key="k"), "NoSuchBucket", 404)
    expect_error(lambda: s3.list_objects_v2(Bucket=missing), "NoSuchBucket", 404)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="no/such/key"), "NoSuchKey", 404)


def step_delete_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="last", Body=b"x")
    expect_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="last")
    s3.delete_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(bucket not in names, f"deleted bucket still listed: {names}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("MERIDIAN_S3_ENDPOINT"))
    parser.add_argument("--access-key", default=os.environ.get("MERIDIAN_ROOT_ACCESS_KEY", "meridian-dev"))
    parser.add_argument("--secret-key", default=os.environ.get("MERIDIAN_ROOT_SECRET_KEY", "meridian-dev-secret"))
    args = parser.parse_args()
    if not args.endpoint:
        parser.error("--endpoint (or MERIDIAN_S3_ENDPOINT) is required")

    s3 = client(args.endpoint, args.access_key, args.secret_key)
    bad_secret = client(args.endpoint, args.access_key, args.secret_key + "-wrong")
    unknown_key = client(args.endpoint, "nobody-" + uuid.uuid4().hex[:8], args.secret_key)
    bucket = f"boto3-{uuid.uuid4().hex[:12]}"

    steps = [
        ("buckets", lambda: step_buckets(s3, bucket)),
        ("objects", lambda: step_objects(s3, bucket)),
        ("listing", lambda: step_listing(s3, bucket)),
        ("multipart", lambda: step_multipart(s3, bucket)),
        ("errors", lambda: step_errors(s3, bad_secret, unknown_key, bucket)),
        ("delete bucket", lambda: step_delete_bucket(s3, bucket)),
    ]
    for name, run in steps:
        try:
            run()
        except CheckFailed as err:
            print(f"FAIL: step {name!r}: {err}", file=sys.stderr)
            return 1
        except Exception as err:  # any SDK or network error fails the step too
            traceback.print_exc()
            print(f"FAIL: step {name!r}: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        print(f"ok: {name}")
    print("boto3 e2e: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
