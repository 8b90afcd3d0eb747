"""What the boto3 scripts share: a path-style client with no ambient
configuration, and checks that report what went wrong."""

import sys
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


class CheckFailed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


def client(endpoint, access_key, secret_key, max_attempts=2, signature_version=None,
           region_name="us-east-1", verify=None):
    options = dict(
        s3={"addressing_style": "path"},
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
    )
    if signature_version:
        options["signature_version"] = signature_version
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region_name,
        config=Config(**options),
        verify=verify,
    )


def default_client(endpoint, access_key, secret_key, region_name=None):
    """A client as a new user makes one: endpoint and keys, nothing else
    (no region, no addressing style, boto3's own retries)."""
    kwargs = dict(endpoint_url=endpoint, aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key)
    if region_name:
        kwargs["region_name"] = region_name
    return boto3.session.Session().client("s3", **kwargs)


def expect_error(fn, code, status=None):
    """Calls fn and checks that it fails with S3 error `code` (and HTTP `status`)."""
    try:
        fn()
    except ClientError as err:
        got = err.response.get("Error", {}).get("Code")
        got_status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        check(got == code, f"expected error {code}, got {got} (HTTP {got_status}): {err}")
        if status is not None:
            check(got_status == status, f"expected HTTP {status} with {code}, got {got_status}")
        return
    raise CheckFailed(f"expected error {code}, but the call succeeded")


def run_steps(steps, done):
    """Runs (label, fn) in order, printing each; on the first failure prints
    it with its traceback and exits 1; then prints `done`."""
    for label, step in steps:
        try:
            step()
            print(f"ok   {label}")
        except Exception:  # noqa: BLE001 - report any failure with its step
            print(f"FAIL {label}", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
    print(done)
