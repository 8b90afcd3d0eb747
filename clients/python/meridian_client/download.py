"""Verified downloads: every chunk checked against its BLAKE3 before a byte
of it is written; the whole object checked against its own BLAKE3 when it
is read whole; a broken stream resumed from the first chunk not yet
written; the file appears under its name only when complete."""

import dataclasses
import os
import time

import blake3
import grpc

from . import retry
from .errors import IntegrityError, MeridianError
from .signing import resource_metadata
from .v1 import client_pb2 as pb
from .verify import ChunkVerifier


@dataclasses.dataclass
class Downloaded:
    info: object  # ObjectInfo of the version read
    path: str
    bytes: int
    verified_chunks: int
    read_site: str
    resumes: int


def download(stub, bucket, key, path, *, verify=True, offset=0, length=None, site="",
             from_site="", resume=True, max_stalls=8, timeout=None):
    part = f"{path}.meridian-part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _read(stub, bucket, key, out, verify, offset, length, site, from_site,
                        resume, max_stalls, timeout)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
    except BaseException:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
        raise
    got.path = path
    return got


def _read(stub, bucket, key, out, verify, offset, length, site, from_site, resume,
          max_stalls, timeout):
    start = offset
    end = None  # known from the first info frame
    pos = start  # the first byte of the range not yet written
    info, whole, stalls, resumes = None, None, 0, 0
    checked = 0
    while True:
        v = None
        req = pb.GetRequest(bucket=bucket, key=key, site=site, offset=pos,
                            whole_chunks=verify, from_site=from_site)
        if end is not None:
            req.length = end - pos
        elif length is not None:
            req.length = length
        try:
            frames = stub.Get(req, metadata=resource_metadata(bucket, key), timeout=timeout)
            first = next(frames)
            if first.WhichOneof("frame") != "info":
                raise MeridianError("the first Get frame is not the object's info")
            if info is None:
                info = first.info
                end = info.size if length is None else min(info.size, offset + length)
                if verify and start == 0 and end == info.size:
                    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
            elif (first.info.version_id, first.info.blake3) != (info.version_id, info.blake3):
                raise IntegrityError(
                    f"{bucket}/{key} changed while it was read (version "
                    f"{info.version_id} then {first.info.version_id})")
            v = ChunkVerifier(pos, end) if verify else None
            for f in frames:
                if f.WhichOneof("frame") != "chunk":
                    raise MeridianError("a Get frame that is not a chunk's")
                c = f.chunk
                if v is None:
                    lo, hi = max(c.offset, pos), min(c.offset + len(c.data), end)
                    pieces = [(lo, c.data[lo - c.offset:hi - c.offset])] if lo < hi else []
                else:
                    pieces = v.feed(c)
                for at, data in pieces:
                    if at != pos:
                        raise MeridianError(f"bytes at {at} arrived where {pos} was expected")
                    out.write(data)
                    if whole is not None:
                        whole.update(data)
                    pos += len(data)
                    stalls = 0
            if v is not None:
                v.finish()
                checked += v.verified_chunks
            if pos != end:
                raise MeridianError(f"the stream ended at {pos} of {end}")
            break
        except grpc.RpcError as e:
            if v is not None:
                checked += v.verified_chunks
            if not (resume and retry.retryable(e)) or stalls >= max_stalls:
                raise
            stalls += 1
            resumes += 1
            time.sleep(retry.backoff(stalls - 1))
    if whole is not None and whole.hexdigest() != info.blake3:
        raise IntegrityError(
            f"{bucket}/{key} read whole hashes to {whole.hexdigest()}, not {info.blake3}")
    return Downloaded(info=info, path="", bytes=pos - start, verified_chunks=checked,
                      read_site=info.read_site, resumes=resumes)
