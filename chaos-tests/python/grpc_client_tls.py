#!/usr/bin/env python3
"""clients/python over TLS with a bearer token (WLCG profile) against
`meridian dev --tls`: the endpoint's CA trusted by file, a write and a
verified read within the token's scope, a write outside it refused and
nothing written, a wrong signature refused, and no connection at all when
the CA is not trusted.

Usage: MERIDIAN_ACCESS_KEY=K MERIDIAN_SECRET_KEY=S MERIDIAN_TOKEN=JWT \
       grpc_client_tls.py --endpoint https://... --ca-cert PEM --workdir DIR
(credentials from the environment, never argv)
Prints `done` when every check passed; exits 1 on a failed check.
"""

import argparse
import filecmp
import os
import pathlib
import sys

import grpc

from meridian_client import Client, Credential
from meridian_client.v1 import client_pb2 as pb


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)


def refused(call, code, what):
    try:
        call()
    except grpc.RpcError as e:
        check(e.code() == code, f"{what}: {e.code()} {e.details()}")
        return e.details()
    check(False, f"{what}: accepted")


def main():
    p = argparse.ArgumentParser()
    for arg in ("--endpoint", "--ca-cert", "--workdir"):
        p.add_argument(arg, required=True)
    a = p.parse_args()
    a.access_key = os.environ["MERIDIAN_ACCESS_KEY"]
    a.secret_key = os.environ["MERIDIAN_SECRET_KEY"]
    a.token = os.environ["MERIDIAN_TOKEN"]
    work = pathlib.Path(a.workdir)
    src = work / "tls.bin"
    src.write_bytes(os.urandom(9 * (1 << 20) + 12345))

    # The user's bucket, made with their access key (signed over TLS).
    with Client(a.endpoint, Credential(a.access_key, a.secret_key), ca_cert=a.ca_cert) as c:
        c.create_bucket("daq")

    with Client(a.endpoint, Credential(token=a.token), ca_cert=a.ca_cert) as c:
        up = c.upload_file(src, "daq", "run3/raw.root", resume=False)
        check(up.info.size == src.stat().st_size and up.info.chunk_count == 3, f"{up.info}")
        back = work / "tls.back"
        got = c.download_file("daq", "run3/raw.root", back)
        check(filecmp.cmp(src, back, shallow=False) and got.verified_chunks == 3, f"{got}")
        part = work / "tls.part"
        c.download_file("daq", "run3/raw.root", part, offset=4 << 20, length=100)
        check(part.read_bytes() == src.read_bytes()[4 << 20:(4 << 20) + 100], "ranged read")
        # The token creates under /daq/run3 only.
        refused(lambda: c.upload_file(src, "daq", "other/raw.root", resume=False),
                grpc.StatusCode.PERMISSION_DENIED, "a write outside the token's scope")
        refused(lambda: c.stat("daq", "other/raw.root"), grpc.StatusCode.PERMISSION_DENIED,
                "a read outside the token's scope")

    # An access key with the wrong secret.
    wrong = Credential(a.access_key, a.secret_key + "x")
    with Client(a.endpoint, wrong, ca_cert=a.ca_cert) as c:
        why = refused(lambda: c.stat("daq", "run3/raw.root"), grpc.StatusCode.UNAUTHENTICATED,
                      "a wrong secret")
        check("signature" in why, why)

    # Without the CA: no TLS session, so no call.
    with Client(a.endpoint, Credential(token=a.token),
                options=[("grpc.initial_reconnect_backoff_ms", 100)]) as c:
        refused(lambda: c.stub.ListBuckets(pb.ListBucketsRequest(), timeout=5),
                grpc.StatusCode.UNAVAILABLE, "a server whose CA is not trusted")
    # No scheme, no guess: a bare host:port is refused before any byte.
    try:
        Client(a.endpoint.split("://", 1)[1], Credential(token=a.token))
        check(False, "a bare host:port was accepted")
    except ValueError:
        pass
    print("done", flush=True)


if __name__ == "__main__":
    main()
