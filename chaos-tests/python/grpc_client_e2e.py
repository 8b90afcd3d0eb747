#!/usr/bin/env python3
"""clients/python (meridian_client) end to end against a real `meridian dev`,
through relays that fail as a network does (chaos-tests/src/faulty_link.rs).

cut:    a file of --size bytes is uploaded through a relay that cuts the
        connection once about half of it has passed; upload_file(resume=True)
        asks the server where the session stands and goes on; the object is
        committed with the file's BLAKE3, replication is waited on, and the
        object read back (verified) equals the file byte for byte.
killed: a process uploading --small-size bytes through a relay that stalls
        is killed (SIGKILL); a new call resumes the session from the saved
        state, sending only what the server lacked, over two streams.

Prints one JSON line per phase, then `done`. Exits 1 on a failed check.

Usage: MERIDIAN_ACCESS_KEY=K MERIDIAN_SECRET_KEY=S \
       grpc_client_e2e.py --endpoint URL --cut-endpoint URL --stall-endpoint URL
                          --workdir DIR [--size N] [--small-size N] [--site SITE]
(the credential from the environment, as any meridian_client user's; never argv)
"""

import argparse
import filecmp
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import grpc

from meridian_client import Client, credential_from_env
from meridian_client.signing import resource_metadata
from meridian_client.upload import file_blake3
from meridian_client.v1 import client_pb2 as pb

BUCKET = "daq"


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)


def write_random(path, size):
    block = 64 << 20
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(block, left)
            f.write(os.urandom(n))
            left -= n


def client(a, endpoint):
    return Client(endpoint, credential_from_env(), site=a.site)


def cut(a, work):
    src = work / "cut.bin"
    write_random(src, a.size)
    digest = file_blake3(src)
    key = "run1/raw 数据.root"
    state = work / "state"
    with client(a, a.endpoint) as direct, client(a, a.cut_endpoint) as faulty:
        direct.create_bucket(BUCKET)
        t = time.monotonic()
        up = faulty.upload_file(src, BUCKET, key, state_dir=state,
                                content_type="application/x-root", metadata={"run": "1"})
        up_s = time.monotonic() - t
        info = up.info
        check(info.size == a.size and info.blake3 == digest, f"committed {info}")
        check(up.resumes >= 1 and up.breaks, f"the cut was not seen: {up}")
        check(not any(state.iterdir()), "the saved state outlived the upload")
        t = time.monotonic()
        progress = direct.wait_replicated(BUCKET, key, timeout=600)
        rep_s = time.monotonic() - t
        check(progress.done and progress.complete == progress.wanted >= 2,
              f"replication: {progress}")
        back = work / "cut.back"
        t = time.monotonic()
        got = direct.download_file(BUCKET, key, back, site="Beijing")
        down_s = time.monotonic() - t
        check(got.bytes == a.size and got.verified_chunks == info.chunk_count,
              f"download: {got}")
        check(filecmp.cmp(src, back, shallow=False), "the bytes read back differ")
        back.unlink()
        src.unlink()
    print(json.dumps({
        "phase": "cut", "size": a.size, "chunk_size": info.chunk_size,
        "chunks": info.chunk_count, "sent": up.sent_bytes, "resent": up.resent_bytes,
        "resumes": up.resumes, "breaks": up.breaks, "upload_s": round(up_s, 2),
        "replicated": [(r.site, r.state) for r in progress.replicas],
        "replication_s": round(rep_s, 2), "read_site": got.read_site,
        "download_s": round(down_s, 2), "etag": info.etag,
    }), flush=True)


def child_upload(a):
    """Runs in the process the parent kills: never returns (the relay stalls)."""
    with client(a, a.stall_endpoint) as c:
        c.upload_file(a.path, BUCKET, a.key, state_dir=a.state_dir)
    sys.exit("the stalled upload finished")


def killed(a, work):
    src = work / "killed.bin"
    write_random(src, a.small_size)
    digest = file_blake3(src)
    key = "run2/raw.root"
    state = work / "state-killed"
    child = subprocess.Popen([
        sys.executable, __file__, "--child-upload", "--stall-endpoint", a.stall_endpoint,
        "--site", a.site,
        "--path", str(src), "--key", key, "--state-dir", str(state),
        "--endpoint", "-", "--cut-endpoint", "-", "--workdir", str(work)])
    try:
        with client(a, a.endpoint) as c:
            saved = None
            for _ in range(600):
                files = list(state.glob("*.json")) if state.exists() else []
                if files:
                    saved = json.loads(files[0].read_text())
                    break
                check(child.poll() is None, "the child upload exited early")
                time.sleep(0.1)
            check(saved is not None, "the child never began its session")
            meta = resource_metadata(BUCKET, key)
            ref = pb.UploadRef(upload_id=saved["upload_id"])
            durable, still = -1, 0
            for _ in range(600):
                s = c.stub.GetUploadStatus(ref, metadata=meta)
                still = still + 1 if s.durable_bytes == durable and durable > 0 else 0
                durable = s.durable_bytes
                if still >= 5:
                    break
                time.sleep(0.2)
            check(still >= 5 and 0 < durable < a.small_size, f"the stall never held: {s}")
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            up = c.upload_file(src, BUCKET, key, state_dir=state, streams=2)
            check(up.upload_id == saved["upload_id"] and up.resumes == 1,
                  f"a new session was begun: {up}")
            check(up.sent_bytes == a.small_size - durable,
                  f"sent {up.sent_bytes}, but the server lacked {a.small_size - durable}")
            check(up.info.blake3 == digest and up.info.size == a.small_size, f"{up.info}")
            back = work / "killed.back"
            c.download_file(BUCKET, key, back)
            check(filecmp.cmp(src, back, shallow=False), "the bytes read back differ")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    print(json.dumps({"phase": "killed", "size": a.small_size, "durable_at_kill": durable,
                      "sent_after": up.sent_bytes, "streams": up.streams}), flush=True)


def main():
    p = argparse.ArgumentParser()
    for arg in ("--endpoint", "--cut-endpoint", "--stall-endpoint", "--workdir"):
        p.add_argument(arg, required=True)
    p.add_argument("--size", type=int, default=2_000_000_000)
    p.add_argument("--small-size", type=int, default=256 << 20)
    p.add_argument("--site", default="Daocheng")
    p.add_argument("--child-upload", action="store_true")
    p.add_argument("--path")
    p.add_argument("--key")
    p.add_argument("--state-dir")
    a = p.parse_args()
    if a.child_upload:
        child_upload(a)
    work = pathlib.Path(a.workdir)
    try:
        cut(a, work)
        killed(a, work)
    except grpc.RpcError as e:
        check(False, f"{e.code()}: {e.details()}")
    print("done", flush=True)


if __name__ == "__main__":
    main()
