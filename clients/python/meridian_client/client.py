"""A client of Meridian's gRPC client API for experiment software."""

import os
import pathlib

import grpc

from . import download as _download
from . import upload as _upload
from .errors import ReplicationTimeout
from .signing import Credential, resource_metadata
from .v1 import client_pb2 as pb
from .v1 import client_pb2_grpc

# Data frames are 1 MiB; a Get frame carries at most a chunk's bytes.
MAX_MESSAGE = 64 << 20
# Large HTTP/2 windows from the first byte (gRPC's BDP probe grows them
# further): a 64 KiB window caps a stream at 64 KiB per round trip.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.http2.lookahead_bytes", 16 << 20),
    ("grpc.http2.bdp_probe", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
]


def credential_from_env(env=os.environ):
    """``MERIDIAN_TOKEN``; else ``MERIDIAN_ACCESS_KEY`` and
    ``MERIDIAN_SECRET_KEY``; else the file ``MERIDIAN_CREDENTIALS`` names or
    ``~/.config/meridian/credentials`` (``access_key = "..."`` and
    ``secret_key = "..."``, mode 600), as meridianctl reads them."""
    if env.get("MERIDIAN_TOKEN"):
        return Credential(token=env["MERIDIAN_TOKEN"])
    ak, sk = env.get("MERIDIAN_ACCESS_KEY"), env.get("MERIDIAN_SECRET_KEY")
    if ak and sk:
        return Credential(ak, sk)
    if ak or sk:
        raise ValueError("MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY go together")
    path = pathlib.Path(env.get("MERIDIAN_CREDENTIALS")
                        or pathlib.Path.home() / ".config" / "meridian" / "credentials")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ValueError(
            "no credentials: set MERIDIAN_TOKEN, or MERIDIAN_ACCESS_KEY and "
            f"MERIDIAN_SECRET_KEY, or write {path}") from None
    if st.st_mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {st.st_mode & 0o777:o}): chmod 600 it")
    import tomllib

    f = tomllib.loads(path.read_text())
    return Credential(f["access_key"], f["secret_key"])


class Client:
    """The client API at ``endpoint`` (``https://host:port``, or
    ``http://host:port`` for a server without TLS), every call carrying
    ``credential`` (by default from the environment, see
    :func:`credential_from_env`). ``ca_cert`` is the PEM file of the CA to
    trust for https (``meridian dev --tls`` prints its path); without it the
    system's roots are trusted. ``site`` is where this client runs: uploads
    are born there and reads start at the nearest complete replica to it.
    """

    def __init__(self, endpoint, credential=None, *, ca_cert=None, site="", options=()):
        # The scheme is required: a bare host:port read as plain HTTP/2
        # would send a token in the clear to a TLS port before failing.
        scheme, sep, target = endpoint.partition("://")
        if not sep or scheme not in ("http", "https"):
            raise ValueError(f"endpoint {endpoint!r} must begin with http:// or https://")
        secure = scheme == "https"
        target = target.rstrip("/")
        self.endpoint = endpoint
        self.site = site
        self.credential = credential or credential_from_env()
        opts = CHANNEL_OPTIONS + list(options)
        if secure:
            roots = pathlib.Path(ca_cert).read_bytes() if ca_cert else None
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), opts)
        else:
            channel = grpc.insecure_channel(target, opts)
        self._channel = channel
        self.stub = client_pb2_grpc.ObjectServiceStub(
            grpc.intercept_channel(channel, self.credential))

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Small calls.
    def create_bucket(self, bucket, site=""):
        self.stub.CreateBucket(pb.CreateBucketRequest(bucket=bucket, site=site or self.site),
                               metadata=resource_metadata(bucket))

    def stat(self, bucket, key, max_staleness_ms=0):
        return self.stub.Stat(pb.StatRequest(bucket=bucket, key=key,
                                             max_staleness_ms=max_staleness_ms),
                              metadata=resource_metadata(bucket, key))

    def delete(self, bucket, key):
        self.stub.Delete(pb.DeleteRequest(bucket=bucket, key=key),
                         metadata=resource_metadata(bucket, key))

    def upload_file(self, path, bucket, key, *, resume=True, site=None, content_type="",
                    metadata=None, idle_seconds=0, streams=1, state_dir=None, max_stalls=8,
                    on_progress=None):
        """Uploads ``path`` to ``bucket/key`` through an upload session and
        returns :class:`~meridian_client.upload.Uploaded` (``.info`` is the
        committed object). A broken connection is resumed from the server's
        account of the chunks it holds; with ``resume`` a later call for the
        same file and key resumes a session an earlier process left.
        ``streams`` > 1 fills the session over several streams at once."""
        return _upload.upload(
            self.stub, os.fspath(path), bucket, key, resume=resume,
            site=self.site if site is None else site, content_type=content_type,
            metadata=metadata, idle_seconds=idle_seconds, streams=streams,
            state_dir=state_dir, max_stalls=max_stalls, on_progress=on_progress)

    def download_file(self, bucket, key, path, *, verify=True, offset=0, length=None,
                      site=None, from_site="", resume=True, max_stalls=8):
        """Reads ``bucket/key`` (or ``length`` bytes from ``offset``) into
        ``path`` and returns :class:`~meridian_client.download.Downloaded`.
        With ``verify`` every chunk is checked against its BLAKE3 before any
        of it is written, and a whole read against the object's BLAKE3; the
        file appears under ``path`` only when complete."""
        return _download.download(
            self.stub, bucket, key, os.fspath(path), verify=verify, offset=offset,
            length=length, site=self.site if site is None else site, from_site=from_site,
            resume=resume, max_stalls=max_stalls)

    def wait_replicated(self, bucket, key, *, timeout=3600, copies=0, on_progress=None):
        """Waits until the object's placement holds (or ``copies`` replicas
        are complete) and returns the last ``ReplicationProgress``; raises
        :class:`ReplicationTimeout` when ``timeout`` seconds pass first."""
        req = pb.WaitReplicatedRequest(bucket=bucket, key=key, timeout_seconds=int(timeout),
                                       copies=copies)
        last = None
        try:
            for p in self.stub.WaitReplicated(req, metadata=resource_metadata(bucket, key),
                                              timeout=timeout + 30, wait_for_ready=True):
                last = p
                if on_progress:
                    on_progress(p)
                if p.done:
                    return p
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ReplicationTimeout(
                    f"{bucket}/{key} not replicated within {timeout} s: {e.details()}",
                    last) from e
            raise
        raise ReplicationTimeout(f"the progress stream of {bucket}/{key} ended before done", last)
