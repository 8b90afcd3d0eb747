"""What the client raises, beside grpc.RpcError for a refused call."""


class MeridianError(Exception):
    """Base of this module's errors."""


class IntegrityError(MeridianError):
    """Bytes did not hash to what they must: a chunk read back, the object
    read back whole, or a file that changed while it was being uploaded.
    Nothing unverified was written where the caller asked."""


class UploadStalled(MeridianError):
    """An upload made no progress through its allowed retries; the session
    is kept (its id is in the message) and a later call resumes it."""


class ReplicationTimeout(MeridianError):
    """WaitReplicated's deadline passed before the placement held; the last
    progress seen is ``progress``."""

    def __init__(self, message, progress=None):
        super().__init__(message)
        self.progress = progress
