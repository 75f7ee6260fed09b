"""The BASE_LSTM codec: the base LSTM mixed with the context model (codec/streams/bases_lstm.py)."""

from __future__ import annotations

import dataclasses
import io
from unittest import mock

import numpy as np
import pytest

from codec import CodecConfig, compress, decompress
from codec.api import decompress_stream
from codec.errors import FormatError
from codec.model.quantize import random_quant_model
from codec.streams import bases, bases_ctx, bases_lstm
from codec.streams.exceptions import BASE_CODE
from codec.streams.ids import CodecId, StreamId
from codec.varint import blob

from .conftest import DATA



def _reads(name: str = "chipseq_300.fastq", long_every: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Base codes and lengths of a test file's reads (every ``long_every``-th read made
    ~2.5 kb by repeating it, so rows are cut into segments)."""
    lines = (DATA / name).read_bytes().splitlines()[1::4]
    if long_every:
        lines = [line * 50 if i % long_every == 0 else line for i, line in enumerate(lines)]
    codes = BASE_CODE[np.frombuffer(b"".join(lines), np.uint8)].copy()
    return codes, np.array([len(line) for line in lines], dtype=np.int64)


def _ctx_and_tokens(codes, lens, level=9):
    recorder = bases_lstm.TokenRecorder(len(codes))
    params = bases_ctx.choose_params(codes, lens, level)
    payload = bases_ctx.encode_bases(codes, lens, np.zeros(len(lens), np.uint8), level, params, None, None, recorder)
    return payload, recorder.tokens


@pytest.mark.parametrize("long_every", [0, 7])
def test_mixed_codec_round_trips_with_any_weights(long_every):
    """Losslessness never depends on the model: a random LSTM, exceptions, long rows."""
    codes, lens = _reads(long_every=long_every)
    codes[np.random.default_rng(1).integers(0, len(codes), 40)] = 4
    ctx_payload, tokens = _ctx_and_tokens(codes, lens)
    assert (tokens[codes == 4] == bases_lstm.NO_TABLE).all() and (tokens[codes < 4] < bases_lstm.NO_TABLE).all()
    qm = random_quant_model(bases_lstm.model_config(), seed=3)
    payload = bases_lstm.encode_bases(codes, lens, ctx_payload, tokens, qm)
    assert payload == bases_lstm.encode_bases(codes, lens, ctx_payload, tokens, qm)
    seen = []
    out = bases_lstm.decode_bases(payload, lens, codes == 4, progress=seen.append)
    assert np.array_equal(out, codes)
    assert seen[-1] == len(codes) and seen == sorted(seen)


def test_fitted_lstm_codes_real_reads_below_the_context_model_and_a_random_lstm(monkeypatch):
    """Fitting has to learn something: on 300 ChIP-seq reads, the mixed payload with the
    fitted LSTM (its model bytes left out: a fixed cost that blocks from MIN_BASES bases
    repay) is smaller than the context model's and than with random LSTMs of the same shape."""
    codes, lens = _reads()
    ctx_payload, tokens = _ctx_and_tokens(codes, lens)
    monkeypatch.setattr(bases_lstm, "FIT_STEPS", 100)
    payload = bases_lstm.encode_bases(codes, lens, ctx_payload, tokens)
    fitted = len(payload) - len(bases_lstm.read_model(payload).to_bytes())
    randoms = []
    for seed in range(3):
        qm = random_quant_model(bases_lstm.model_config(), seed=seed)
        randoms.append(len(bases_lstm.encode_bases(codes, lens, ctx_payload, tokens, qm)) - len(qm.to_bytes()))
    assert fitted < min(randoms) and fitted < len(ctx_payload)
    assert np.array_equal(bases_lstm.decode_bases(payload, lens, codes == 4), codes)


def test_level_9_keeps_the_smaller_base_payload(monkeypatch):
    codes, lens = _reads()
    mate = np.zeros(len(lens), np.uint8)
    monkeypatch.setattr(bases_lstm, "FIT_STEPS", 20)
    tried = []
    real = bases_lstm.encode_bases
    monkeypatch.setattr(bases_lstm, "encode_bases", lambda *a, **k: tried.append(1) or real(*a, **k))
    assert bases.encode_bases(codes, lens, mate, 9, 0.01)[1] == CodecId.BASE_CTX   # below MIN_BASES
    assert not tried
    monkeypatch.setattr(bases_lstm, "MIN_BASES", 0)
    payload, codec = bases.encode_bases(codes, lens, mate, 9, 0.01)
    assert tried and codec in (CodecId.BASE_CTX, CodecId.BASE_LSTM)
    assert len(payload) <= len(bases.encode_bases(codes, lens, mate, 8, 0.01)[0])
    assert np.array_equal(bases.decode_bases(payload, lens, mate, codes == 4), codes)
    tried.clear()
    bases.encode_bases(codes, lens, mate, 8, 0.01)
    assert not tried   # only level 9 tries it


def base_lstm_archive(data: bytes, threads: int = 0) -> bytes:
    """A level-9 archive of ``data`` whose BASES stream is BASE_LSTM (also golden v15's). On a
    small file the codec never wins (its model alone is ~3 kB), so the plain and lzma payloads
    are padded while it is written, and the fit is cut short."""
    real = bases_ctx.encode_bases
    with mock.patch.object(bases_lstm, "MIN_BASES", 0), mock.patch.object(bases_lstm, "FIT_STEPS", 30), \
            mock.patch.object(bases_ctx, "encode_bases", lambda *a, **k: real(*a, **k) + bytes(1 << 16)), \
            mock.patch.object(bases, "_lzma_candidate", lambda *a: (bytes(1 << 20), CodecId.LZMA)):
        archive = compress(data, CodecConfig(level=9, threads=threads))
    assert bytes([StreamId.BASES, CodecId.BASE_LSTM]) in archive
    return archive


def test_archives_with_base_lstm_streams_round_trip():
    """Through the whole pipeline and container: a level-9 archive whose BASES stream is
    BASE_LSTM (:func:`base_lstm_archive`)."""
    data = (DATA / "chipseq_300.fastq").read_bytes()
    archive = base_lstm_archive(data)
    assert bytes([CodecId.BASE_LSTM]) + bytes([bases_lstm.VERSION]) in archive
    assert decompress(archive) == data
    out = io.BytesIO()
    decompress_stream(io.BytesIO(archive), [out], threads=2)
    assert out.getvalue() == data


def test_level_9_archives_are_the_same_every_run_and_thread_count():
    """A level-9 block fits its quality and base LSTMs on two threads at once; they once
    shared torch's generator and thread count, and the archive changed from run to run
    (threads.fitting). With two threads, twice, and with one: the same bytes."""
    data = (DATA / "chipseq_300.fastq").read_bytes()
    first = base_lstm_archive(data, threads=2)
    assert base_lstm_archive(data, threads=2) == first
    assert base_lstm_archive(data, threads=1) == first


def test_damaged_mixed_payloads_are_refused():
    codes, lens = _reads()
    ctx_payload, tokens = _ctx_and_tokens(codes, lens)
    payload = bases_lstm.encode_bases(codes, lens, ctx_payload, tokens,
                                      random_quant_model(bases_lstm.model_config(), seed=4))
    for bad in (bytes([9]) + payload[1:], payload[:1] + bytes([0]) + payload[2:], payload[:40]):
        with pytest.raises(FormatError):
            bases_lstm.decode_bases(bad, lens, codes == 4)
    other = random_quant_model(dataclasses.replace(bases_lstm.model_config(), input_vocab=(5, 7, 3)), seed=4)
    stored = len(blob(bases_lstm.read_model(payload).to_bytes()))
    swapped = payload[:3] + blob(other.to_bytes()) + payload[3 + stored:]
    with pytest.raises(FormatError, match="does not fit"):
        bases_lstm.decode_bases(swapped, lens, codes == 4)
