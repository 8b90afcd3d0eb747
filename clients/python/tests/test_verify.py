import unittest

import blake3

from meridian_client import IntegrityError
from meridian_client.upload import _overlap, plan
from meridian_client.v1 import client_pb2 as pb
from meridian_client.verify import ChunkVerifier

CHUNK = 1024


def frames(data, chunk=CHUNK, frame=300, start=0, end=None, corrupt_at=None):
    """The ObjectChunk frames a whole_chunks Get of [start, end) sends."""
    end = len(data) if end is None else end
    first = start // chunk * chunk
    out = []
    for off in range(first, end, chunk):
        body = data[off:off + chunk]
        h = blake3.blake3(body).digest()
        for at in range(0, len(body), frame):
            piece = bytearray(body[at:at + frame])
            if corrupt_at is not None and off + at <= corrupt_at < off + at + len(piece):
                piece[corrupt_at - off - at] ^= 1
            out.append(pb.ObjectChunk(data=bytes(piece), offset=off + at, chunk_offset=off,
                                      chunk_size=len(body), chunk_hash=h))
    return out


def read(data, start=0, end=None, **kw):
    end = len(data) if end is None else end
    v = ChunkVerifier(start, end)
    got = bytearray()
    for f in frames(data, start=start, end=end, **kw):
        for at, piece in v.feed(f):
            assert at == start + len(got)
            got += piece
    v.finish()
    return bytes(got), v


class Verify(unittest.TestCase):
    data = bytes((i * 7 + i // 1000) % 251 for i in range(5 * CHUNK + 77))

    def test_whole_and_ranged_reads_come_back_verified(self):
        got, v = read(self.data)
        self.assertEqual(got, self.data)
        self.assertEqual(v.verified_chunks, 6)
        got, v = read(self.data, 1000, 3000)
        self.assertEqual(got, self.data[1000:3000])
        self.assertEqual(v.verified_chunks, 3)

    def test_a_flipped_bit_is_refused_before_any_of_its_chunk_is_handed_on(self):
        v = ChunkVerifier(0, len(self.data))
        handed = 0
        with self.assertRaises(IntegrityError):
            for f in frames(self.data, corrupt_at=2 * CHUNK + 5):
                handed += sum(len(p) for _, p in v.feed(f))
        self.assertEqual(handed, 2 * CHUNK)

    def test_frames_that_do_not_make_a_chunk_are_refused(self):
        fs = frames(self.data)
        with self.assertRaises(IntegrityError):  # starts inside a chunk
            ChunkVerifier(0, len(self.data)).feed(fs[1])
        v = ChunkVerifier(0, len(self.data))
        v.feed(fs[0])
        with self.assertRaises(IntegrityError):  # a gap
            v.feed(fs[2])
        v = ChunkVerifier(0, len(self.data))
        v.feed(fs[0])
        with self.assertRaises(IntegrityError):  # cut short
            v.finish()
        bad = pb.ObjectChunk(data=b"x", offset=0, chunk_offset=0, chunk_size=1, chunk_hash=b"")
        with self.assertRaises(IntegrityError):  # no hash
            ChunkVerifier(0, 1).feed(bad)


class Plan(unittest.TestCase):
    def test_missing_ranges_split_on_the_grid(self):
        self.assertEqual(plan([], CHUNK, 4), [])
        self.assertEqual(plan([(0, 10 * CHUNK + 5)], CHUNK, 1), [[(0, 10 * CHUNK + 5)]])
        parts = plan([(2 * CHUNK, 10 * CHUNK + 5)], CHUNK, 3)
        self.assertEqual(len(parts), 3)
        flat = [r for p in parts for r in p]
        self.assertEqual(flat[0][0], 2 * CHUNK)
        self.assertEqual(flat[-1][1], 10 * CHUNK + 5)
        for (s, e), (s2, _) in zip(flat, flat[1:]):
            self.assertEqual(e, s2)
            self.assertEqual(e % CHUNK, 0)
        holes = [(0, CHUNK), (3 * CHUNK, 4 * CHUNK), (7 * CHUNK, 7 * CHUNK + 9)]
        parts = plan(holes, CHUNK, 2)
        self.assertEqual(sorted(r for p in parts for r in p), holes)

    def test_bytes_sent_again_are_those_still_missing(self):
        self.assertEqual(_overlap([(0, 100), (200, 300)], [(50, 250)]), 100)
        self.assertEqual(_overlap([(0, 100)], []), 0)


if __name__ == "__main__":
    unittest.main()
