"""Meridian's gRPC client API from Python: resumable, verified transfers.

    from meridian_client import Client
    with Client("http://127.0.0.1:50051", site="Daocheng") as c:
        up = c.upload_file("run42.root", "juno", "raw/run42.root")
        c.wait_replicated("juno", "raw/run42.root")
        c.download_file("juno", "raw/run42.root", "/scratch/run42.root")

The stubs under ``meridian_client.v1`` are generated from the repository's
``proto/`` by ``generate_stubs.py``.
"""

from .client import Client, credential_from_env
from .download import Downloaded
from .errors import IntegrityError, MeridianError, ReplicationTimeout, UploadStalled
from .signing import Credential, resource, resource_metadata, sign
from .upload import Uploaded

__all__ = [
    "Client",
    "Credential",
    "Downloaded",
    "IntegrityError",
    "MeridianError",
    "ReplicationTimeout",
    "UploadStalled",
    "Uploaded",
    "credential_from_env",
    "resource",
    "resource_metadata",
    "sign",
]
