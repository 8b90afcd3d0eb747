"""Which failures are worth another attempt, and how long to wait."""

import grpc

# The connection or the server went away mid-call, or the server asked the
# caller to come back: the call may be tried again and a session resumed.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}


def retryable(err):
    return isinstance(err, grpc.RpcError) and err.code() in RETRYABLE


def backoff(attempt, cap=30.0):
    """Seconds before attempt ``attempt`` (1, 2, 4, ... up to ``cap``)."""
    return min(cap, 0.5 * (2 ** max(0, attempt)))
