#!/usr/bin/env python3
"""Writes the seed corpus of the IDX fuzz target, fuzz/corpus/idx/: small valid files and one
file for each error the parser reports (raw and gzip). Run it again after changing the cases;
the files are committed so that the ctest run of the harness needs no Python."""
import gzip
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "idx")


def idx(magic, dims, data=b""):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(data):
    return gzip.compress(data, mtime=0)


images = idx(0x803, [3, 2, 2], bytes(range(12)))
labels = idx(0x801, [3], bytes([0, 1, 9]))
one_28 = idx(0x803, [1, 28, 28], bytes((i * 7) % 256 for i in range(784)))
crc = bytearray(gz(images))
crc[-8] ^= 0xFF
block = bytearray(gz(images))
block[10] = 0x07  # BFINAL=1, BTYPE=11 (reserved)

CASES = {
    "valid_images": images,
    "valid_labels": labels,
    "valid_28x28": one_28,
    "valid_2d": idx(0x802, [2, 3], bytes(6)),
    "valid_empty_array": idx(0x803, [0, 28, 28]),
    "valid_images.gz": gz(images),
    "valid_labels.gz": gz(labels),
    "valid_two_members.gz": gz(images[:9]) + gz(images[9:]),
    "empty": b"",
    "short_magic": b"\x00\x00\x08",
    "bad_magic": idx(0x12345678, []),
    "bad_type": idx(0x00000703, [1]),
    "f32_type": idx(0x00000D01, [1], bytes(4)),
    "zero_dims": idx(0x00000800, []),
    "truncated_header": idx(0x803, [3])[:8],
    "truncated_data": images[:-5],
    "trailing": images + b"\x01\x02",
    "dims_overflow": idx(0x803, [0xFFFFFFFF] * 3),
    "huge_claim": idx(0x803, [60000, 28, 28], bytes(1000)),
    "gz_truncated.gz": gz(images)[:-12],
    "gz_bad_crc.gz": bytes(crc),
    "gz_bad_block.gz": bytes(block),
    "gz_garbage_after.gz": gz(images) + b"\x01\x02\x03",
    "gz_only_magic.gz": b"\x1f\x8b",
    "gz_of_gz.gz": gz(gz(images)),
}

os.makedirs(OUT, exist_ok=True)
for name, data in CASES.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(CASES)} seeds to {OUT}")
