#!/usr/bin/env python3
"""boto3 against a Meridian S3 endpoint over TLS: with verify= naming the
CA `meridian dev --tls` printed, objects go up and come back; with the
system's trust store alone, the endpoint's certificate is refused.

Usage: boto3_tls.py --endpoint https://127.0.0.1:9000 --ca CA.pem
       --access-key K --secret-key S
Prints "done" when every check passes; otherwise the failing step, exit 1.
"""

import argparse
import os
import sys
import traceback

try:
    import botocore.exceptions
    from s3check import CheckFailed, check, client
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    a = p.parse_args()
    check(a.endpoint.startswith("https://"), f"not an https endpoint: {a.endpoint}")
    s3 = client(a.endpoint, a.access_key, a.secret_key, verify=a.ca)
    s3.create_bucket(Bucket="tls-boto3")
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket="tls-boto3", Key="over/tls", Body=body)
    got = s3.get_object(Bucket="tls-boto3", Key="over/tls")["Body"].read()
    check(got == body, f"read back {len(got)} bytes, not the {len(body)} written")

    untrusting = client(a.endpoint, a.access_key, a.secret_key, max_attempts=1, verify=True)
    try:
        untrusting.list_buckets()
    except botocore.exceptions.SSLError:
        pass
    else:
        raise CheckFailed("a client that does not trust the dev CA was served")
    print("done")


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - report any failure with its step
        traceback.print_exc()
        sys.exit(1)
