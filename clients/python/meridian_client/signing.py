"""Who is calling: every call to the client API carries a credential.

A *signed request* proves the caller holds an access key's secret without
sending it: an HMAC-SHA256, keyed by the secret, over

    MERIDIAN1-HMAC-SHA256\\n<time ms>\\n<nonce>\\n<gRPC method>\\n<resource>\\n<access key>

sent as ``x-meridian-*`` metadata. The resource is what the call acts on
(``/``, ``/BUCKET`` or ``/BUCKET/KEY``), percent-encoded as an S3 path is.
The server accepts a signature within 300 s of its clock, once.

A *bearer token* (WLCG profile JWT) is sent as ``authorization: Bearer``.

Both are applied by :class:`Credential`, a gRPC client interceptor: a call
names its resource with :func:`resource_metadata`, the interceptor signs it
with the call's own method, the time and a fresh nonce.
"""

import collections
import hashlib
import hmac
import secrets
import time
import urllib.parse

import grpc

ALGORITHM = "MERIDIAN1-HMAC-SHA256"
ACCESS_KEY = "x-meridian-access-key"
TIME = "x-meridian-time"
NONCE = "x-meridian-nonce"
RESOURCE = "x-meridian-resource"
SIGNATURE = "x-meridian-signature"


def resource(bucket="", key=None):
    """The resource a call on ``bucket`` (and ``key``) acts on, as signed:
    every byte but ``A-Za-z0-9-._~/`` percent-encoded (UTF-8)."""
    if not bucket:
        return "/"
    enc = lambda s: urllib.parse.quote(s, safe="/")  # noqa: E731
    return f"/{enc(bucket)}" if key is None else f"/{enc(bucket)}/{enc(key)}"


def resource_metadata(bucket="", key=None):
    """Call metadata naming the resource a call acts on."""
    return ((RESOURCE, resource(bucket, key)),)


def string_to_sign(time_ms, nonce, method, res, access_key):
    return f"{ALGORITHM}\n{time_ms}\n{nonce}\n{method}\n{res}\n{access_key}"


def sign(secret, time_ms, nonce, method, res, access_key):
    """The signature, lower-case hex."""
    msg = string_to_sign(time_ms, nonce, method, res, access_key)
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class Credential(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the caller's credential to every call: an access key's
    signature, or a bearer token. ``clock`` returns the time in ms (the
    tests drive it; a wrong clock is refused by the server)."""

    def __init__(self, access_key=None, secret_key=None, token=None, clock=None):
        if token is None and not (access_key and secret_key):
            raise ValueError("a credential is an access key with its secret, or a token")
        self.access_key = access_key
        self._secret = secret_key
        self._token = token
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)

    def __repr__(self):
        # Never the secret or the token.
        who = "token" if self._token is not None else f"access key {self.access_key}"
        return f"Credential({who})"

    def metadata(self, method, existing=()):
        """``existing`` metadata plus this credential's, for ``method``
        (``/meridian.v1.ObjectService/Put``)."""
        md = [(k, v) for k, v in (existing or ()) if k not in (ACCESS_KEY, TIME, NONCE, SIGNATURE)]
        if self._token is not None:
            return md + [("authorization", f"Bearer {self._token}")]
        res = next((v for k, v in md if k == RESOURCE), None)
        if res is None:
            res = "/"
            md.append((RESOURCE, res))
        t = self._clock()
        nonce = secrets.token_hex(16)
        sig = sign(self._secret, t, nonce, method, res, self.access_key)
        return md + [
            (ACCESS_KEY, self.access_key),
            (TIME, str(t)),
            (NONCE, nonce),
            (SIGNATURE, sig),
        ]

    def _details(self, d):
        method = d.method.decode() if isinstance(d.method, bytes) else d.method
        return _Details(
            d.method,
            d.timeout,
            self.metadata(method, d.metadata),
            d.credentials,
            d.wait_for_ready,
            d.compression,
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)
