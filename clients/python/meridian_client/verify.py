"""Checking a download as it arrives: every Get data frame names the chunk
it belongs to (offset, size, BLAKE3); the bytes of a chunk are held until
the chunk is whole and hashes to its BLAKE3, and only then handed on,
trimmed to the range asked for. Pure (no IO), so it is tested on its own.
"""

import blake3

from .errors import IntegrityError

# The largest chunk this reader holds in memory.
MAX_CHUNK = 256 << 20


class ChunkVerifier:
    """Feeds ``ObjectChunk`` frames; yields ``(offset, bytes)`` of the
    range ``[start, end)`` only from chunks whose hash was checked."""

    def __init__(self, start, end):
        self.start, self.end = start, end
        self._chunk = None  # (chunk_offset, chunk_size, chunk_hash)
        self._buf = bytearray()
        self.verified_chunks = 0
        self.verified_bytes = 0

    def feed(self, c):
        """Takes one frame; returns the verified pieces it completes."""
        key = (c.chunk_offset, c.chunk_size, bytes(c.chunk_hash))
        if self._chunk is None:
            if c.offset != c.chunk_offset:
                raise IntegrityError(
                    f"a frame at {c.offset} starts inside chunk {c.chunk_offset}: "
                    "the chunk cannot be checked (ask with whole_chunks)")
            if c.chunk_size > MAX_CHUNK:
                raise IntegrityError(f"chunk of {c.chunk_size} bytes is over {MAX_CHUNK}")
            if len(c.chunk_hash) != 32:
                raise IntegrityError(f"chunk {c.chunk_offset} has no BLAKE3 ({len(c.chunk_hash)} bytes)")
            self._chunk = key
        elif key != self._chunk or c.offset != c.chunk_offset + len(self._buf):
            raise IntegrityError(
                f"frame at {c.offset} (chunk {c.chunk_offset}) does not follow "
                f"chunk {self._chunk[0]} at {self._chunk[0] + len(self._buf)}")
        self._buf += c.data
        off, size, want = self._chunk
        if len(self._buf) > size:
            raise IntegrityError(f"chunk {off} is longer than its {size} bytes")
        if len(self._buf) < size:
            return []
        got = blake3.blake3(self._buf).digest()
        if got != want:
            raise IntegrityError(
                f"chunk at {off} ({size} bytes) hashes to {got.hex()}, not {want.hex()}")
        data, self._buf, self._chunk = bytes(self._buf), bytearray(), None
        self.verified_chunks += 1
        self.verified_bytes += size
        lo, hi = max(off, self.start), min(off + size, self.end)
        if lo >= hi:
            return []
        return [(lo, data[lo - off:hi - off])]

    def finish(self):
        """Raises if a chunk was left incomplete."""
        if self._chunk is not None:
            raise IntegrityError(
                f"the stream ended inside chunk {self._chunk[0]} "
                f"({len(self._buf)} of {self._chunk[1]} bytes)")
