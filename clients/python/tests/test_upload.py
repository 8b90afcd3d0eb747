"""upload_file's logic against an in-memory stand-in for the server's
session calls (the real server is driven end to end by
chaos-tests/tests/python_client.rs): a break resumes from what the server
holds, a file that shrinks or changes raises IntegrityError at once, a
session that cannot commit is aborted and forgotten."""

import os
import tempfile
import unittest

import blake3
import grpc

from meridian_client import IntegrityError
from meridian_client.upload import upload
from meridian_client.v1 import client_pb2 as pb

CHUNK = 1024


class Refused(grpc.RpcError):
    def __init__(self, code, details=""):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class FakeSessions:
    """Sessions on a chunk grid, as the server keeps them; `cut_after`
    breaks one write stream after that many data bytes (UNAVAILABLE)."""

    def __init__(self, cut_after=None):
        self.sessions, self.aborted, self.committed = {}, [], {}
        self.cut_after, self.n = cut_after, 0

    def _status(self, sid):
        s = self.sessions[sid]
        missing, start = [], None
        chunks = -(-s["size"] // CHUNK)
        for i in range(chunks):
            if i not in s["chunks"] and start is None:
                start = i * CHUNK
            if i in s["chunks"] and start is not None:
                missing.append(pb.ByteRange(start=start, end=i * CHUNK))
                start = None
        if start is not None:
            missing.append(pb.ByteRange(start=start, end=s["size"]))
        durable = sum(len(c) for c in s["chunks"].values())
        return pb.UploadStatus(upload_id=sid, bucket=s["bucket"], key=s["key"], size=s["size"],
                               blake3=s["blake3"], chunk_size=CHUNK, durable_bytes=durable,
                               missing=missing)

    def BeginUpload(self, r, **_):
        self.begun = getattr(self, "begun", 0) + 1
        sid = f"u{self.begun}"
        self.sessions[sid] = dict(bucket=r.bucket, key=r.key, size=r.size, blake3=r.blake3,
                                  chunks={})
        return self._status(sid)

    def GetUploadStatus(self, r, **_):
        if r.upload_id not in self.sessions:
            raise Refused(grpc.StatusCode.NOT_FOUND)
        return self._status(r.upload_id)

    def WriteUpload(self, frames, **_):
        buf, sid, off = b"", None, 0
        try:
            for f in frames:
                if f.WhichOneof("frame") == "header":
                    sid, off = f.header.upload_id, f.header.offset
                    continue
                if self.cut_after is not None and self.n + len(f.data) > self.cut_after:
                    self.cut_after = None
                    raise Refused(grpc.StatusCode.UNAVAILABLE, "cut")
                self.n += len(f.data)
                buf += f.data
                s = self.sessions[sid]
                while len(buf) >= CHUNK or (buf and off + len(buf) == s["size"]):
                    take = min(CHUNK, len(buf))
                    s["chunks"][off // CHUNK] = buf[:take]
                    buf, off = buf[take:], off + take
        except Refused:
            raise
        except Exception as e:  # as gRPC reports a request iterator's failure
            raise Refused(grpc.StatusCode.UNKNOWN, f"Exception iterating requests! {e}")
        return pb.UploadWriteResponse()

    def CommitUpload(self, r, **_):
        if r.upload_id in self.committed:
            return self.committed[r.upload_id]
        s = self.sessions[r.upload_id]
        data = b"".join(s["chunks"][i] for i in sorted(s["chunks"]))
        if blake3.blake3(data).hexdigest() != s["blake3"]:
            raise Refused(grpc.StatusCode.DATA_LOSS, "BadDigest")
        info = pb.PutResponse(info=pb.ObjectInfo(bucket=s["bucket"], key=s["key"], size=len(data),
                                                 blake3=s["blake3"]))
        del self.sessions[r.upload_id]
        self.committed[r.upload_id] = info
        return info

    def AbortUpload(self, r, **_):
        self.aborted.append(r.upload_id)
        self.sessions.pop(r.upload_id, None)
        return pb.AbortUploadResponse()


class Upload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "f")
        self.state = os.path.join(self.dir.name, "state")
        self.data = bytes((i * 31) % 256 for i in range(10 * CHUNK + 77))
        with open(self.path, "wb") as f:
            f.write(self.data)

    def tearDown(self):
        self.dir.cleanup()

    def run_upload(self, stub, **kw):
        return upload(stub, self.path, "b", "k", state_dir=self.state, frame=300, **kw)

    def test_a_break_resumes_from_what_the_server_holds(self):
        stub = FakeSessions(cut_after=4 * CHUNK + 500)
        up = self.run_upload(stub)
        self.assertEqual(up.info.size, len(self.data))
        self.assertEqual((up.resumes, up.breaks), (1, [4 * CHUNK]))
        # What was handed over past the last whole chunk, and no more.
        self.assertLess(up.resent_bytes, CHUNK)
        self.assertEqual(up.sent_bytes - up.resent_bytes, len(self.data))
        self.assertEqual(os.listdir(self.state), [])

    def test_parallel_streams_fill_the_session(self):
        stub = FakeSessions()
        up = self.run_upload(stub, streams=3)
        self.assertEqual((up.info.size, up.sent_bytes, up.resumes), (len(self.data), len(self.data), 0))

    def test_a_file_that_shrinks_raises_at_once(self):
        stub = FakeSessions()
        orig = stub.WriteUpload

        def shrink_then_write(frames, **kw):
            os.truncate(self.path, 5 * CHUNK)
            return orig(frames, **kw)
        stub.WriteUpload = shrink_then_write
        with self.assertRaises(IntegrityError):
            self.run_upload(stub, max_stalls=1)

    def test_a_session_that_cannot_commit_is_aborted_and_forgotten(self):
        stub = FakeSessions()
        orig = stub.BeginUpload

        def begin_with_another_hash(r, **kw):
            r.blake3 = "00" * 32
            return orig(r, **kw)
        stub.BeginUpload = begin_with_another_hash
        with self.assertRaises(IntegrityError):
            self.run_upload(stub)
        self.assertEqual(stub.aborted, ["u1"])
        self.assertEqual(os.listdir(self.state), [])

    def test_a_saved_session_is_resumed_and_a_stale_one_aborted(self):
        stub = FakeSessions(cut_after=3 * CHUNK + 300)
        # A first process gives up at the cut (max_stalls=-1: no attempt
        # after a break), as one that died would.
        with self.assertRaises(Exception):
            self.run_upload(stub, max_stalls=-1)
        self.assertEqual(len(os.listdir(self.state)), 1)
        up = self.run_upload(stub)
        self.assertEqual((up.upload_id, up.resumes), ("u1", 1))
        self.assertEqual(up.sent_bytes, len(self.data) - 3 * CHUNK)
        # A saved session of a file since changed is aborted, not resumed.
        stub2 = FakeSessions(cut_after=3 * CHUNK + 300)
        with self.assertRaises(Exception):
            self.run_upload(stub2, max_stalls=-1)
        with open(self.path, "ab") as f:
            f.write(b"more")
        up = self.run_upload(stub2)
        self.assertEqual((up.upload_id, stub2.aborted), ("u2", ["u1"]))


if __name__ == "__main__":
    unittest.main()
