#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/idx/ (small valid IDX files and one
file for each error the parser reports, raw and gzip), and fuzz/corpus/csv/, text/, ratings/ and
safetensors/ (valid files and one for each error of those readers). Run it again after changing the cases;
the files are committed so that the ctest runs of the harnesses need no Python."""
import gzip
import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
OUT = os.path.join(CORPUS, "idx")


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
    "zero_dim": idx(0x803, [0, 28, 28]),
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

CSV_CASES = {
    "valid_pets.csv": b"name,color,size,weight,label\na,red,S,1.0,yes\nb,blue,M,,no\n"
                      b"c,red,?,3.0,yes\nd,,L,5.0,no\ne,green,M,NA,yes\n",
    "valid_quoted_crlf.csv": b'\xef\xbb\xbfid,label\r\n1,"x, y"\r\n\r\n2,"line1\r\nline2"\r\n'
                             b'3,"say ""hi"""\r\n4,plain',
    "valid_semicolon.csv": b"junk line\n1.5;10\n2.5;9\n3.5;10\n",
    "valid_tabs.tsv": b"a\tb\n1\t2\n",
    "valid_numbers.csv": b"x,y\n+1.5,-2e3\n nan ,NaN\n1e400,0x10\n.5,5.\n",
    "valid_unnamed_header.csv": b",a,\n1,2,3\n",
    "valid_lone_cr.csv": b"a,b\r1,2\r3,4",
    "ragged.csv": b"a,b,c,d,e,label\n1,2,3,4,5,6\n1,2,3,4,5\n",
    "ragged_after_multiline.csv": b'a,b,label\n1,"two\nlines",3\n4,5\n',
    "unterminated_quote.csv": b'a,label\n1,2\n3,"open\nmore\n',
    "text_after_quote.csv": b'a,label\n1,"x"y\n',
    "quote_in_unquoted.csv": b'a,label\n1,x"y\n',
    "duplicate_header.csv": b"a,label,a\n1,2,3\n",
    "empty.csv": b"",
    "blank_lines.csv": b"\n\r\n\r",
    "header_only.csv": b"a,label\n",
}

TEXT_CASES = {
    "valid_ascii.txt": b"First Citizen:\nBefore we proceed any further, hear me speak.\n",
    "valid_words.txt": b"The cat sat.\nThe dog  sat!\r\n don't _x_ 42\t\x00\x7f\n",
    "valid_utf8.txt": "h\u00e9llo w\u20ac! \U0001f600 \ud7ff\ue000\U0010ffff".encode(),
    "invalid_truncated.txt": b"ab\xc3",
    "invalid_continuation.txt": b"ab\xc3\x28xyz",
    "invalid_overlong.txt": b"\xc0\x80 overlong \xe0\x80\x80",
    "invalid_surrogate.txt": b"abc\xed\xa0\x80",
    "invalid_above_max.txt": b"abcd\xf4\x90\x80\x80",
    "invalid_stray.txt": b"abcde\x80",
    "invalid_f5.txt": b"\xf5\x80\x80\x80",
    "empty.txt": b"",
}

RATINGS_CASES = {
    "valid_u.data": b"196\t242\t3\t881250949\n186\t302\t3\t891717742\r\n\n22\t377\t1",
    "valid_three_fields.data": b"1\t2\t3.5\n",
    "valid.csv": b"user,item,rating\n10,b,4\n2,a,3.5\n33,b,5\n",
    "valid_semicolon.csv": b"user;item;rating\n1;2;3\n",
    "bad_rating.data": b"196\t242\t3\t1\n186\t302\tx\t2\n",
    "wrong_fields.data": b"196\t242\t3\t1\n196\t242\n",
    "empty_user.csv": b"user,item,rating\n1,2,3\n\n,2,3\n",
    "missing_column.csv": b"u,i,r\n1,2,3\n",
    "ragged.csv": b"user,item,rating\n1,2,3\n1,2\n",
    "inf_rating.csv": b"user,item,rating\n1,2,inf\n",
    "empty": b"",
}



def st(header, data=b"", claimed=None):
    """A safetensors file: the header's length (or `claimed`), the header text, the data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if claimed is None else claimed) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


SAFETENSORS_CASES = {
    "valid_two": st({"a": t("F32", [2, 3], 0, 24), "b": t("I64", [2], 24, 40)}, bytes(40)),
    "valid_metadata": st({"__metadata__": {"format": "pt"}, "s": t("F32", [], 0, 4)}, bytes(4)),
    "valid_f64_i32": st({"d": t("F64", [1], 0, 8), "i": t("I32", [2], 8, 16)}, bytes(16)),
    "valid_empty_tensors": st({"e": t("F32", [0, 4], 0, 0), "f": t("F32", [1], 0, 4)}, bytes(4)),
    "valid_padded": st(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   ', bytes(4)),
    "valid_no_tensors": st({}),
    "empty": b"",
    "short": b"\x01\x02\x03",
    "header_past_end": st({}, claimed=1000),
    "header_over_limit": st({}, claimed=100_000_001),
    "not_json": st(b"{\"a\": "),
    "not_object": st(b"[1, 2]"),
    "not_brace": st(b' {"a": 1}'),
    "duplicate_name": st(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                         b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
    "unknown_dtype": st({"w": t("F16", [2], 0, 4)}, bytes(4)),
    "no_dtype": st({"w": {"shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
    "negative_size": st({"w": t("F32", [-2], 0, 8)}, bytes(8)),
    "shape_overflow": st({"w": t("F32", [4611686018427387907], 0, 12)}, bytes(12)),
    "shape_overflow_zero": st({"w": t("F32", [0, 1 << 40, 1 << 40], 0, 0)}),
    "size_mismatch": st({"w": t("F32", [2, 3], 0, 20)}, bytes(24)),
    "ends_before_begin": st({"w": t("F32", [0], 8, 4)}, bytes(8)),
    "overlap": st({"a": t("F32", [3], 0, 12), "b": t("F32", [3], 8, 20)}, bytes(20)),
    "gap": st({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, bytes(12)),
    "not_from_zero": st({"a": t("F32", [1], 4, 8)}, bytes(8)),
    "trailing": st({"a": t("F32", [1], 0, 4)}, bytes(6)),
    "truncated": st({"a": t("F32", [4], 0, 16)}, bytes(10)),
    "metadata_not_string": st({"__metadata__": {"a": 1}}),
    "bad_offsets": st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, bytes(4)),
}


def write(folder, cases):
    out = os.path.join(CORPUS, folder)
    os.makedirs(out, exist_ok=True)
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(cases)} seeds to {out}")


write("idx", CASES)
write("csv", CSV_CASES)
write("text", TEXT_CASES)
write("ratings", RATINGS_CASES)
write("safetensors", SAFETENSORS_CASES)
