"""Resumable uploads through upload sessions.

The file's BLAKE3 is declared when the session begins; streams fill the
session's chunk grid from the ranges the server says are missing; every
whole chunk is durable on the server as soon as it arrives, so after a
broken connection the upload goes on from the server's own account of what
it holds (less than a chunk is sent again). The commit checks the chunks
hash to the declared BLAKE3: a file that changed while it was sent commits
nothing. With ``resume=True`` the session's id is kept in a small state file
(no secret in it), so a process that died mid-upload resumes it too.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
import threading
import time

import blake3
import grpc

from . import retry
from .errors import IntegrityError, UploadStalled
from .signing import resource_metadata
from .v1 import client_pb2 as pb

FRAME = 1 << 20
STATUS_TIMEOUT = 30.0
# Status reads while the server finishes the chunks of a stream that broke.
SETTLE_READS = 40
SETTLE_PAUSE = 0.25


@dataclasses.dataclass
class Uploaded:
    info: object  # ObjectInfo of the committed object
    upload_id: str
    sent_bytes: int = 0  # file bytes sent in WriteUpload streams
    resent_bytes: int = 0  # of those, bytes the server had not kept when a stream broke
    resumes: int = 0  # times the upload went on after a break (or from a saved session)
    streams: int = 1
    # After each break: the bytes the server held once it had recorded the
    # chunks it had whole (where the upload went on from).
    breaks: list = dataclasses.field(default_factory=list)


def default_state_dir():
    return os.environ.get("MERIDIAN_UPLOAD_STATE") or os.path.join(
        os.path.expanduser("~"), ".cache", "meridian", "uploads")


def file_blake3(path):
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    h.update_mmap(path)
    return h.hexdigest()


class _Saved:
    """Where a resumable upload of one file to one key stands: the session's
    id, and the file's size, mtime and BLAKE3 when it began (a file touched
    since is hashed and uploaded afresh)."""

    def __init__(self, state_dir, bucket, key, path):
        # Not the endpoint: any node of the cluster resumes a session, and
        # another cluster answers NOT_FOUND (the upload then begins afresh).
        ident = "\0".join([bucket, key, os.path.abspath(path)])
        self.file = pathlib.Path(state_dir) / (hashlib.sha256(ident.encode()).hexdigest() + ".json")

    def load(self):
        try:
            s = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return None
        return s if isinstance(s, dict) and isinstance(s.get("upload_id"), str) else None

    @staticmethod
    def same_file(s, st):
        return s.get("size") == st.st_size and s.get("mtime_ns") == st.st_mtime_ns

    def save(self, upload_id, st, digest):
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"upload_id": upload_id, "size": st.st_size,
                                   "mtime_ns": st.st_mtime_ns, "blake3": digest}))
        os.replace(tmp, self.file)

    def forget(self):
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass


def plan(missing, chunk, streams):
    """Splits the missing ranges ``[(start, end)]`` into at most ``streams``
    lists of ranges of about equal bytes, cut only on the chunk grid."""
    total = sum(e - s for s, e in missing)
    if total == 0:
        return []
    share = -(-total // max(1, streams))
    share = max(chunk, -(-share // chunk) * chunk)
    out, cur, room = [], [], share
    for s, e in missing:
        while s < e:
            take = min(e - s, room)
            cut = s + take
            if cut < e and cut % chunk:
                cut = min(e, (cut // chunk + 1) * chunk)
            cur.append((s, cut))
            room -= cut - s
            s = cut
            if room <= 0 and len(out) < streams - 1:
                out.append(cur)
                cur, room = [], share
    if cur:
        out.append(cur)
    return out


def _overlap(ranges, missing):
    """Bytes of ``ranges`` that are in ``missing``."""
    n = 0
    for s, e in ranges:
        for ms, me in missing:
            n += max(0, min(e, me) - max(s, ms))
    return n


class _Stream:
    """One WriteUpload stream per range, sending from a file handle of its
    own; ``sent`` holds the ranges handed to gRPC so far."""

    def __init__(self, stub, path, bucket, key, upload_id, ranges, frame):
        self.stub, self.path, self.meta = stub, path, resource_metadata(bucket, key)
        self.upload_id, self.ranges, self.frame = upload_id, ranges, frame
        self.sent = []
        self.failure = None
        self.lock = threading.Lock()

    def _frames(self, f, start, end):
        yield pb.UploadWriteRequest(header=pb.UploadWriteHeader(upload_id=self.upload_id, offset=start))
        f.seek(start)
        pos = start
        while pos < end:
            try:
                data = f.read(min(self.frame, end - pos))
                if not data:
                    raise IntegrityError(f"{self.path} is shorter than it was ({pos} bytes)")
            except (OSError, IntegrityError) as e:
                # gRPC would report it as UNKNOWN from its own thread.
                self.failure = e
                raise
            with self.lock:
                self.sent.append((pos, pos + len(data)))
            pos += len(data)
            yield pb.UploadWriteRequest(data=data)

    def run(self):
        with open(self.path, "rb") as f:
            for start, end in self.ranges:
                # Not wait_for_ready: with the server out of reach the call
                # fails at once and the bounded retries of upload() decide.
                try:
                    self.stub.WriteUpload(self._frames(f, start, end), metadata=self.meta)
                except grpc.RpcError:
                    if self.failure is not None:
                        raise self.failure from None
                    raise


def upload(stub, path, bucket, key, *, resume=True, site="", content_type="",
           metadata=None, idle_seconds=0, streams=1, frame=FRAME, state_dir=None,
           max_stalls=8, on_progress=None):
    st = os.stat(path)
    meta = resource_metadata(bucket, key)
    saved = _Saved(state_dir or default_state_dir(), bucket, key, path) if resume else None
    status, digest, resumes = None, None, 0
    s = saved.load() if saved is not None else None
    if s is not None and not _Saved.same_file(s, st):
        # The file changed since: its session will never commit; free its
        # chunks now rather than at its idle expiry.
        _abort(stub, s["upload_id"], meta)
        saved.forget()
        s = None
    if s is not None:
        try:
            status = stub.GetUploadStatus(pb.UploadRef(upload_id=s["upload_id"]), metadata=meta,
                                          timeout=STATUS_TIMEOUT, wait_for_ready=True)
            digest = s["blake3"]
            resumes += 1
            if (status.bucket, status.key, status.size, status.blake3) != (
                    bucket, key, st.st_size, digest):
                _abort(stub, s["upload_id"], meta)
                status = None
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
            # Gone: committed by a call whose answer was lost, or expired.
            try:
                done = stub.CommitUpload(pb.UploadRef(upload_id=s["upload_id"]), metadata=meta,
                                         timeout=STATUS_TIMEOUT, wait_for_ready=True)
                saved.forget()
                return Uploaded(info=done.info, upload_id=s["upload_id"], resumes=1)
            except grpc.RpcError as e2:
                if e2.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            status = None
    if status is None:
        digest = file_blake3(path)
        status = stub.BeginUpload(
            pb.BeginUploadRequest(bucket=bucket, key=key, site=site, content_type=content_type,
                                  user_meta=metadata or {}, size=st.st_size, blake3=digest,
                                  idle_seconds=idle_seconds),
            metadata=meta, timeout=STATUS_TIMEOUT, wait_for_ready=True)
        resumes = 0
        if saved is not None:
            saved.save(status.upload_id, st, digest)
    upload_id = status.upload_id
    report = Uploaded(info=None, upload_id=upload_id, resumes=resumes, streams=max(1, streams))
    stalls = 0
    while status.missing:
        if on_progress:
            on_progress(status.durable_bytes, status.size)
        missing = [(r.start, r.end) for r in status.missing]
        work = [_Stream(stub, path, bucket, key, upload_id, ranges, frame)
                for ranges in plan(missing, status.chunk_size, streams)]
        errors = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(work)) as pool:
            for fut in [pool.submit(w.run) for w in work]:
                try:
                    fut.result()
                except grpc.RpcError as e:
                    errors.append(e)
        fatal = [e for e in errors if not retry.retryable(e)]
        if fatal:
            raise fatal[0]
        before = status.durable_bytes
        status = _settled(stub, upload_id, meta, bool(errors))
        now_missing = [(r.start, r.end) for r in status.missing]
        for w in work:
            report.sent_bytes += sum(e - s for s, e in w.sent)
            report.resent_bytes += _overlap(w.sent, now_missing)
        if errors:
            report.resumes += 1
            report.breaks.append(status.durable_bytes)
        stalls = 0 if status.durable_bytes > before else stalls + 1
        if stalls > max_stalls:
            raise UploadStalled(
                f"upload {upload_id} of {path} made no progress in {stalls} attempts "
                f"(last error: {errors[0] if errors else 'none'}); it resumes on the next call")
        if errors:
            time.sleep(retry.backoff(stalls))
    try:
        report.info = _commit(stub, upload_id, meta, path, max_stalls)
    except IntegrityError:
        # The session holds what the file was; it will never commit, and a
        # saved id would only lead the next call back to it.
        _abort(stub, upload_id, meta)
        if saved is not None:
            saved.forget()
        raise
    if saved is not None:
        saved.forget()
    return report


def _abort(stub, upload_id, meta):
    """Aborts a session this client gives up on; best effort (the node
    aborts it at its idle expiry anyway)."""
    try:
        stub.AbortUpload(pb.UploadRef(upload_id=upload_id), metadata=meta, timeout=STATUS_TIMEOUT)
    except grpc.RpcError:
        pass


def _status(stub, upload_id, meta, attempts=8):
    """The session's status, asked again (bounded) while the server is out
    of reach: after a cut, the connection may take a while to come back."""
    for attempt in range(attempts):
        try:
            return stub.GetUploadStatus(pb.UploadRef(upload_id=upload_id), metadata=meta,
                                        timeout=STATUS_TIMEOUT, wait_for_ready=True)
        except grpc.RpcError as e:
            if not retry.retryable(e) or attempt == attempts - 1:
                raise
            time.sleep(retry.backoff(attempt))


def _settled(stub, upload_id, meta, broke):
    """The session's status; after a broken stream, once the server has
    recorded the whole chunks it had (durable bytes stop moving)."""
    status = _status(stub, upload_id, meta)
    if not broke:
        return status
    for _ in range(SETTLE_READS):
        time.sleep(SETTLE_PAUSE)
        again = _status(stub, upload_id, meta)
        if again.durable_bytes == status.durable_bytes:
            return again
        status = again
    return status


def _commit(stub, upload_id, meta, path, max_stalls):
    for attempt in range(max_stalls + 1):
        try:
            return stub.CommitUpload(pb.UploadRef(upload_id=upload_id), metadata=meta,
                                     timeout=STATUS_TIMEOUT * 4, wait_for_ready=True).info
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DATA_LOSS:
                raise IntegrityError(
                    f"the session's chunks do not hash to {path}'s BLAKE3 as declared: "
                    f"did the file change while it was sent? ({e.details()})") from e
            if not retry.retryable(e) or attempt == max_stalls:
                raise
            time.sleep(retry.backoff(attempt))
