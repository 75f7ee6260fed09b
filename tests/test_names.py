"""Read-name codec: exact round trips, the choices it should make, and damage handling."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.errors import FormatError
from codec.streams.names import NameMethod, StreamMethod, decode_names, encode_names, pack_stream, unpack_stream
from codec.streams.names import _TOKEN_METHODS, _previous, _tokens_payload
from codec.streams.names_tokens import (LEGACY_MAX_TOKENS, MAX_TOKENS, Tok, classify, letters_touch_digits,
                                       reference_tokens, tokenise)
from codec.varint import Reader


def roundtrip(names: list[bytes], mates: list[bytes] | None = None) -> bytes:
    payload = encode_names(names, mates)
    assert decode_names(payload, len(names), mates) == names
    return payload


def roundtrip_tokens(names: list[bytes], mates: list[bytes] | None = None) -> None:
    """Decode the token-column payloads themselves, which :func:`encode_names` often drops
    for raw or lzma on small, random lists: every cut, against the previous name or mate."""
    joined = b"\n".join(names)
    for split in (False, True):
        tok = tokenise(joined, len(names), split)
        payload = _tokens_payload(tok, tok, _previous(tok), _TOKEN_METHODS[False, split])
        assert decode_names(payload, len(names)) == names
        if mates is not None:
            ref = tokenise(b"\n".join(mates), len(mates), split)
            payload = _tokens_payload(tok, ref, tok.name, _TOKEN_METHODS[True, split])
            assert decode_names(payload, len(names), mates) == names


def illumina(n: int, seed: int = 1, read: int = 1) -> list[bytes]:
    """Casava 1.8 names, sorted by tile then y, random x (what a MiSeq writes)."""
    rng = np.random.default_rng(seed)
    tiles = np.sort(rng.integers(1101, 1120, n))
    ys = np.sort(rng.integers(1000, 30000, n))
    xs = rng.integers(1000, 29000, n)
    return [b"M04284:48:000000000-BDYLH:1:%d:%d:%d %d:N:0:ACGT+TTGA" % (t, x, y, read)
            for t, x, y in zip(tiles, xs, ys)]


def mgi(n: int, seed: int = 1, read: int = 1) -> list[bytes]:
    """DNBSEQ names: flow cell, lane, field of view (column, row) and a read counter glued
    together, the counter rising with gaps and starting again in each new row."""
    rng = np.random.default_rng(seed)
    rows = 1 + np.cumsum(rng.random(n) < 0.001)
    steps = rng.integers(1, 4, n)
    counter = np.zeros(n, dtype=np.int64)
    for row in np.unique(rows):
        at = rows == row
        counter[at] = np.cumsum(steps[at])
    return [b"V300012345L2C004R%03d%07d/%d" % (r, c, read) for r, c in zip(rows, counter)]


def guppy(n: int, seed: int = 1, parent: bool = True) -> list[bytes]:
    """ONT names as Guppy 6 writes them: ~80 tokens, the read's UUID again as parent_read_id."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        uuid = "%08x-%04x-4%03x-a%03x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 12, 12, 48))
        out.append((f"{uuid} runid=0a7b3c9d8e1f2a3b4c5d6e7f8091a2b3c4d5e6f7 read={rng.randrange(90000)} "
                    f"ch={rng.randrange(1, 513)} start_time=2022-03-01T01:{i // 60 % 60:02d}:{i % 60:02d}Z "
                    f"flow_cell_id=FAQ12345 protocol_group_id=run_1 sample_id=om barcode=barcode07 "
                    f"barcode_alias=barcode07 {'parent_read_id=' + uuid if parent else 'no_parent'} "
                    f"basecall_model_version_id=dna_r10.4.1_e8.2_400bps_sup@v4.1.0").encode())
    return out


def parents(n: int, seed: int = 2) -> list[bytes]:
    """Short names that repeat their id, few enough that only token columns with COPY beat lzma."""
    rng = random.Random(seed)
    ids = [b"%08x-%04x" % (rng.getrandbits(32), rng.getrandbits(16)) for _ in range(n)]
    return [b"%s read=%d ch=7 parent=%s" % (u, i, u) for i, u in enumerate(ids)]


CASES = {
    "empty list": [],
    "one name": [b"read1"],
    "one empty name": [b""],
    "empty names": [b"", b"", b""],
    "empty between": [b"a1", b"", b"a2", b""],
    "whitespace and CR": [b"r 1\tx\r", b"r 2\tx\r", b" \t\r", b"\r"],
    "non-ASCII and NUL": [b"\xff\xfe\x00a1", b"\xff\xfe\x00a2", b"\x80\x00\x00", b"\x00"],
    "leading zeros": [b"x:007", b"x:008", b"x:8", b"x:0009", b"x:10", b"x:0", b"x:00", b"x:000"],
    "huge digit runs": [b"n" + b"9" * 19, b"n" + b"9" * 18, b"n" + b"1" * 40, b"9" * 18, b"1" * 18 + b"0"],
    "max values": [b"999999999999999999", b"0", b"999999999999999999", b"000000000000000001"],
    "token counts differ": [b"A:1:2", b"A:1", b"A:1:2:3:4", b"A", b"", b"A:1:2:3:4:5:6:7"],
    "many tokens": [b":".join(b"%d" % i for i in range(200)), b"-" * 300, b"-" * 299 + b"a", b"a.b" * 90],
    "long name": [b"x" * 20_000, b"x" * 20_000 + b"1", b"y" * 5000],
    "sra": [b"SRR123.%d %d length=%d" % (i, i, 100 + i % 7) for i in range(1, 60)],
    "sra shuffled": [b"SRR10382244.%d %d length=%d" % (i, i, 20000 - i) for i in (5838, 17304, 21654, 300)],
    "ont": [b"%s runid=721cb33e read=%d ch=%d start_time=2017-10-21T01:18:%02dZ" % (
        f"{random.Random(i).getrandbits(128):032x}".encode(), i * 7, i % 512, i % 60) for i in range(40)],
    "pacbio": [b"m64004_210929_143746/%d/ccs" % z for z in (59900144, 50334373, 103940460, 103940461)],
    "illumina": illumina(500),
    "sorted counters": [b"read_%d" % i for i in range(0, 5000, 3)],
    "big gaps": [b"r.%d" % i for i in range(0, 10**12, 10**9 + 7)],
    "decreasing": [b"r.%d" % i for i in range(300, 0, -1)],
    "digits then letters": [b"12ab", b"12ab3", b"1a", b"0x1F", b"007bond"],
    "mgi": mgi(300),
    "mgi truncated counters": [b"E1L1C%03dR%03d%d" % (i % 3, i // 3, i) for i in range(200)],
    "guppy": guppy(100),
    "parents": parents(60),
    "repeated tokens": [b"ab%d_cd_ab%d_cd_xyz%d_xyz%d" % (i % 7, i % 7, i, i) for i in range(300)],
}


@pytest.mark.parametrize("names", CASES.values(), ids=CASES.keys())
def test_roundtrip_cases(names):
    payload = roundtrip(names)
    assert payload[0] in set(NameMethod)


@pytest.mark.parametrize("names", CASES.values(), ids=CASES.keys())
def test_roundtrip_cases_against_mates(names):
    roundtrip(names, names)                                   # identical
    roundtrip(names, [n + b"/1" for n in names])             # different altogether at the end
    roundtrip(names, list(reversed(names)))                  # unrelated


def test_tail_tokens_are_merged():
    names = [b".".join(b"%d" % (i + k) for k in range(MAX_TOKENS + 20)) for i in range(50)]
    roundtrip(names)


def test_mate_styles_cost_almost_nothing():
    r1 = illumina(1500)
    slash1 = [n.split(b" ")[0] + b"/1" for n in r1]
    sra1 = [b"SRR123.%d.1" % i for i in range(1, 1501)]
    pairs = {
        "identical": (r1, r1),
        "comment 1:N -> 2:N": (r1, [n.replace(b" 1:N", b" 2:N") for n in r1]),
        "/1 -> /2": (slash1, [n[:-1] + b"2" for n in slash1]),
        "SRA .1 -> .2": (sra1, [n[:-1] + b"2" for n in sra1]),
    }
    for what, (mates, names) in pairs.items():
        alone = len(encode_names(mates))
        paired = len(roundtrip(names, mates))
        assert paired <= max(40, 0.02 * alone), (what, paired, alone)


def test_mates_without_any_token():
    """Read 1's names all empty: the mate columns have nothing to refer to. The decoder once
    indexed the mates' empty token table here (the pipeline's check then fell back to lzma)."""
    rng = random.Random(1)
    names = [b"%d" % rng.randrange(10**12) for _ in range(500)]
    assert roundtrip(names, [b""] * 500)[0] in (NameMethod.TOKENS_MATE_255, NameMethod.TOKENS_255)
    roundtrip_tokens(names, [b""] * 500)
    roundtrip_tokens([b"0"], [b""])


def test_unrelated_mates_fall_back_to_previous_name():
    r2 = illumina(2000, seed=5)
    assert encode_names(r2, illumina(2000, seed=6))[0] == NameMethod.TOKENS_255
    roundtrip(r2, illumina(2000, seed=6))


def test_illumina_is_cheap_and_lzma_fallback_used_for_repeats():
    names = illumina(8000)
    payload = roundtrip(names)
    assert payload[0] == NameMethod.TOKENS_255
    assert len(payload) / len(names) < 2.8          # x is ~14.8 bits of noise, y ~4
    rng = random.Random(3)
    pool = [bytes(rng.getrandbits(8) | 1 for _ in range(30)).replace(b"\n", b"") for _ in range(4)]
    repeats = [pool[rng.randrange(4)] for _ in range(1500)]
    assert roundtrip(repeats)[0] == NameMethod.LZMA


def test_letters_glued_to_digits_are_cut_when_that_codes_smaller():
    """MGI's counter is glued to letters: only the split tokens expose it as a number."""
    r1, r2 = mgi(6000), mgi(6000, read=2)
    payload = roundtrip(r1)
    assert payload[0] == NameMethod.TOKENS_SPLIT_255
    assert len(payload) * 8 / len(r1) < 2.0      # the counter's gaps carry ~1.6 bits
    assert roundtrip(r2, r1)[0] == NameMethod.TOKENS_MATE_SPLIT_255
    assert len(roundtrip(r2, r1)) < 40


@pytest.mark.parametrize("names", [illumina(3000), CASES["ont"] * 20, CASES["pacbio"] * 200],
                         ids=["illumina", "ont", "pacbio"])
def test_names_that_cutting_would_not_shrink_keep_whole_tokens(names):
    """Illumina's instrument id, ONT's hex UUIDs, PacBio's movie name: cutting gains nothing."""
    assert roundtrip(names)[0] in (NameMethod.TOKENS_255, NameMethod.LZMA)


def test_a_token_repeated_in_its_own_name_is_copied():
    """Guppy repeats the read's UUID as parent_read_id, past the 64th token of the name: the
    copy costs next to nothing instead of ~16 random bytes a name."""
    names = guppy(2000)
    tok = tokenise(b"\n".join(names), len(names))
    assert tok.ntok.min() > LEGACY_MAX_TOKENS   # the copy lies past the old 64-token bound
    types, back = classify(tok, tok, reference_tokens(tok, tok, _previous(tok)))
    copies = types == Tok.COPY
    assert copies.sum() >= 4 * len(names)     # the UUID's pieces of length >= 2
    assert set(tok.col[copies] - back[copies]) == {0, 2, 4, 6, 8}  # the read id's hex pieces
    with_copy, alone = len(roundtrip(names)), len(roundtrip(guppy(2000, parent=False)))
    assert with_copy < alone + 0.1 * len(names)
    short = parents(40)                       # also what the damaged-payload test decodes
    tok = tokenise(b"\n".join(short), len(short))
    assert (classify(tok, tok, reference_tokens(tok, tok, _previous(tok)))[0] == Tok.COPY).sum() >= 40
    assert roundtrip(short)[0] == NameMethod.TOKENS_255


def test_archives_of_format_12_decode_with_the_64_token_bound():
    """Methods 3-6 merged tokens past the 64th; a mate's name is cut the same way on decoding."""
    names = [b".".join(b"%d" % (i * k) for k in range(LEGACY_MAX_TOKENS + 20)) for i in range(1, 40)]
    mates = [n + b"/1" for n in names]
    for method, ref, against in ((NameMethod.TOKENS, None, False), (NameMethod.TOKENS_MATE, mates, True)):
        tok = tokenise(b"\n".join(names), len(names), max_tokens=LEGACY_MAX_TOKENS)
        ref_tok = tokenise(b"\n".join(mates), len(mates), max_tokens=LEGACY_MAX_TOKENS) if against else tok
        payload = _tokens_payload(tok, ref_tok, tok.name if against else _previous(tok), method)
        assert int(tok.ntok.max()) == LEGACY_MAX_TOKENS
        assert decode_names(payload, len(names), ref) == names


def test_split_tokenisation_cuts_only_between_letters_and_digits():
    joined = b"V3L2C004R0010000101/1\nab12-x9"
    plain, split = tokenise(joined, 2, False), tokenise(joined, 2, True)
    assert list(plain.ntok) == [3, 3]
    assert list(split.ntok) == [10, 5]
    assert split.value[split.is_num].tolist() == [3, 2, 4, 10000101, 1, 12, 9]
    assert letters_touch_digits(joined) and not letters_touch_digits(b"abc:123/x_9")


def test_grid_coordinates_use_the_distinct_value_table():
    rng = np.random.default_rng(2)
    on_grid = (1000 + 9.05 * rng.integers(0, 1000, 8000)).astype(int)  # patterned flow cell
    anywhere = rng.integers(1000, 10050, 8000)

    def size(xs: np.ndarray) -> int:
        return len(roundtrip([b"A00111:245:H:1:1101:%d:%d" % (x, 1000 + i // 10) for i, x in enumerate(xs)]))

    assert size(on_grid) < 0.85 * size(anywhere)  # ~10 bits + table instead of ~13.1 bits


def test_caller_errors():
    with pytest.raises(ValueError):
        encode_names([b"a\nb"])
    with pytest.raises(ValueError):
        encode_names([b"a"], [b"a", b"b"])
    with pytest.raises(ValueError):
        encode_names([b"a"], [b"x\n"])
    payload = encode_names(illumina(50, read=2), illumina(50, read=1))
    assert payload[0] == NameMethod.TOKENS_MATE_255
    with pytest.raises(FormatError):
        decode_names(payload, 50)


@pytest.mark.parametrize("data", [b"", b"a", b"\x00" * 1000, b"ab" * 500, bytes(range(256)) * 8,
                                  b"\x01" * 999 + b"\x06", np.random.default_rng(0).integers(0, 4, 5000,
                                                                                           dtype=np.uint8).tobytes()])
def test_stream_methods_roundtrip(data):
    packed = pack_stream(data)
    assert packed[0] in set(StreamMethod)
    reader = Reader(packed)
    assert unpack_stream(reader, len(data)) == data
    assert reader.remaining() == 0


def test_each_stream_method_is_reachable():
    rng = np.random.default_rng(1)
    seen = {pack_stream(d)[0] for d in (
        bytes(rng.integers(0, 256, 50, dtype=np.uint8)),                 # RAW
        b"\x01" * 100,                                                   # CONST
        b"\x06" + b"\x01" * 4000,                                        # RUNS
        bytes(rng.choice(4, 4000, p=[0.7, 0.1, 0.1, 0.1]).astype(np.uint8)),  # ARITH0
        b"the quick brown fox " * 200)}                                   # LZMA
    assert seen == set(StreamMethod)


def test_run_length_stream_must_fill_its_declared_size():
    body = b"a\x03b\x00"   # (byte, run - 1) pairs: 4 x 'a', then 1 x 'b'
    stream = bytes([StreamMethod.RUNS, len(body)]) + body
    assert unpack_stream(Reader(stream), 5) == b"aaaab"
    with pytest.raises(FormatError, match="run-length stream longer than declared"):
        unpack_stream(Reader(stream), 4)
    with pytest.raises(FormatError, match="run-length stream shorter than declared"):
        unpack_stream(Reader(stream), 6)


printable = st.sampled_from(list(b"0123456789abcXYZ:._-/# \t\r\x00\xff"))
name_like = st.lists(printable, max_size=25).map(bytes)
any_name = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))
name_lists = st.lists(st.one_of(name_like, any_name), max_size=25)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name_lists)
def test_property_roundtrip(names):
    roundtrip(names)
    roundtrip_tokens(names)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name_lists, st.data())
def test_property_roundtrip_with_mates(names, data):
    edits = st.sampled_from([lambda n: n, lambda n: n + b"/1", lambda n: n.replace(b"2", b"1"),
                             lambda n: n[:-1], lambda n: b"x" + n])
    mates = [data.draw(edits)(n) for n in names]
    roundtrip(names, mates)
    roundtrip_tokens(names, mates)
    unrelated = data.draw(st.lists(name_like, min_size=len(names), max_size=len(names)))
    roundtrip(names, unrelated)
    roundtrip_tokens(names, unrelated)


alnum = st.binary(min_size=2, max_size=12).map(lambda b: bytes(48 + c % 10 if c < 128 else 97 + c % 26 for c in b))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(alnum, alnum, st.booleans()), min_size=1, max_size=60), st.data())
def test_property_roundtrip_with_copies(fields, data):
    """Names whose first token comes back later in the name, now and then, and mates like them."""
    names = [a + b":" + b + b"_" + (a if again else b) + b"/1" for a, b, again in fields]
    mates = [n[:-1] + data.draw(st.sampled_from([b"1", b"2"])) for n in names]
    roundtrip(names, mates)
    roundtrip_tokens(names, mates)


def damaged(payload: bytes, rng: random.Random, tries: int) -> list[bytes]:
    out = [payload[:k] for k in range(len(payload)) if len(payload) < 300 or k % 7 == 0]
    for _ in range(tries):
        b = bytearray(payload)
        for _ in range(rng.choice([1, 1, 2, 5])):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    out.extend(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 40))) for _ in range(tries // 4))
    return out


CORRUPTION = {
    "illumina": (illumina(60), None),
    "mates": (illumina(60, read=2), illumina(60)),
    "sra": (CASES["sra"], None),
    "mixed": (CASES["token counts differ"] + CASES["leading zeros"] + CASES["ont"][:5], None),
    "copies": (parents(40), None),
    "repeats lzma": ([b"abcdefghij%d" % (i % 3) for i in range(300)], None),
    "raw": ([b"q"], None),
}


@pytest.mark.parametrize("names,mates", CORRUPTION.values(), ids=CORRUPTION.keys())
def test_damaged_payloads_decode_or_raise_format_error(names, mates):
    payload = encode_names(names, mates)
    rng = random.Random(len(payload))
    tried = 0
    for bad in damaged(payload, rng, tries=80):
        for count in (len(names), len(names) + 1):
            try:
                out = decode_names(bad, count, mates if count == len(names) else None)
            except FormatError:
                pass
            else:
                assert isinstance(out, list) and len(out) == count
                assert all(isinstance(n, bytes) and b"\n" not in n for n in out)
            tried += 1
    assert tried >= 150  # STYLE rule 8: show that something was tested


def test_huge_claims_are_refused_quickly():
    # TOKENS payload claiming 2**40 name bytes / a CONST type stream for a billion names
    with pytest.raises(FormatError):
        decode_names(bytes([NameMethod.TOKENS_255, 2]) + b"\x80\x80\x80\x80\x80\x40", 10)
    with pytest.raises(FormatError):
        decode_names(bytes([NameMethod.LZMA]) + b"\xff\xff\xff\xff\x0f" + b"\x00" * 10, 3)
