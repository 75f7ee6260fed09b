"""Predictor core: shapes, loss, step vs forward, checkpoints."""

from __future__ import annotations

import pytest
import torch

from codec.errors import ModelMismatchError
from codec.model import Predictor, PredictorConfig, load_predictor, save_predictor


def _model(seed: int = 0, layers: int = 1) -> Predictor:
    torch.manual_seed(seed)
    return Predictor(PredictorConfig(n_symbols=5, input_vocab=(6, 3, 7), embed=4, hidden=8, layers=layers))


def _inputs(b: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (b, t), generator=g) for v in (6, 3, 7)], dim=-1)


def test_config_roundtrip_and_validation() -> None:
    cfg = PredictorConfig(n_symbols=4, input_vocab=(5, 10), hidden=32, layers=2)
    assert PredictorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        PredictorConfig(n_symbols=4, input_vocab=(4, 10))


@pytest.mark.parametrize("layers", [1, 2])
def test_forward_shapes_loss_and_step_agree(layers: int) -> None:
    m = _model(layers=layers).eval()
    x = _inputs(3, 6)
    y = torch.randint(0, 5, (3, 6))
    y[0, 2] = -1
    logits, loss = m(x, targets=y)
    assert logits.shape == (3, 6, 5) and loss is not None and loss.ndim == 0
    logits_nt, none = m(x)
    assert none is None
    keep = y.reshape(-1) >= 0
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 5)[keep], y.reshape(-1)[keep])
    torch.testing.assert_close(loss, ref)
    hs, _ = m.hidden_states(x)
    assert hs.shape == (3, 6, 8)
    state = m.initial_state(3)
    with torch.no_grad():
        for t in range(6):
            lt, state = m.step(x[:, t], state)
            torch.testing.assert_close(lt, logits_nt[:, t].detach(), rtol=1e-5, atol=1e-5)


def test_checkpoint_roundtrip_and_hash(tmp_path) -> None:
    m = _model()
    path = tmp_path / "m.pt"
    digest = save_predictor(path, m, extra={"kind": "qual"})
    assert len(digest) == 64
    m2, extra = load_predictor(path)
    assert extra == {"kind": "qual"} and m2.cfg == m.cfg
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    assert save_predictor(tmp_path / "again.pt", m2) == digest
    ck = torch.load(path, weights_only=True)
    ck["state_dict"]["head.bias"] += 1
    torch.save(ck, path)
    with pytest.raises(ModelMismatchError):
        load_predictor(path)


# ---- shipped default quality models ------------------------------------------------------------

def test_default_weights_load_and_sha_check() -> None:
    import hashlib
    from importlib import resources

    from codec.model import defaults
    prov = resources.files("codec").joinpath("weights", "PROVENANCE.md").read_text()
    for kind in defaults.KINDS:
        raw = defaults.weight_bytes(kind)
        assert len(raw) < 64 << 10  # tens of kB at most
        ip, digest = defaults.load_default(kind)
        assert digest == hashlib.sha256(raw).digest() and digest.hex() in prov
        assert ip.cfg.n_symbols == defaults.PHRED_LEVELS
        assert defaults.load_default(kind, digest)[1] == digest
        with pytest.raises(ModelMismatchError):
            defaults.load_default(kind, bytes(32))
    with pytest.raises(ModelMismatchError):
        defaults.weight_bytes("nope")


def test_default_kind_and_phred_rules() -> None:
    import numpy as np

    from codec.model import defaults
    assert defaults.family_for(np.frombuffer(b"#,:F", np.uint8), np.array([150])) == "binned"
    assert defaults.family_for(np.arange(35, 74, dtype=np.uint8), np.array([72])) == "illumina40"
    assert defaults.family_for(np.arange(35, 67, dtype=np.uint8), np.array([5000])) == "long"
    assert defaults.family_for(np.arange(33, 127, dtype=np.uint8), np.array([100])) == "long"
    # new archives use each family's current file; superseded files stay in the registry
    assert defaults.kind_for(np.arange(35, 74, dtype=np.uint8), np.array([72])) == "illumina40_v2"
    assert defaults.kind_for(np.arange(35, 67, dtype=np.uint8), np.array([5000])) == "long_v2"
    assert defaults.kind_for(np.frombuffer(b"#,:F", np.uint8), np.array([150])) == "binned"
    # blocks with read 2s use the model trained on both mates where the family has one
    assert defaults.kind_for(np.arange(35, 74, dtype=np.uint8), np.array([72]), paired=True) == "illumina40_v3"
    assert defaults.kind_for(np.arange(35, 67, dtype=np.uint8), np.array([5000]), paired=True) == "long_v2"
    assert defaults.kind_for(np.frombuffer(b"#,:F", np.uint8), np.array([150]), paired=True) == "binned"
    assert defaults.SEES_MATE <= set(defaults.CURRENT_PAIRED.values()) <= set(defaults.KINDS)
    assert set(defaults.CURRENT.values()) <= set(defaults.KINDS)
    assert {defaults.family_of(kind) for kind in defaults.KINDS} == set(defaults.CURRENT)
    assert defaults.KINDS[:3] == ("binned", "illumina40", "long")  # archive ids 0-2 never move
    a = np.frombuffer(b"BCh", np.uint8)
    assert defaults.phred_offset(a) == 64 and list(defaults.phred_map(a, 64)) == [2, 3, 40]
    a = np.frombuffer(b"!#I~", np.uint8)
    assert defaults.phred_offset(a) == 33 and list(defaults.phred_map(a, 33)) == [0, 2, 40, 93]


def test_pretraining_files_need_every_read_2(tmp_path) -> None:
    """A kind that learns both mates lists each _R1 file's _R2 beside it, and refuses to train
    without one (the weights would silently differ); R1-only kinds never ask for it."""
    from codec.model import pretrain

    names = [name for name, _ in pretrain.TRAIN["illumina40"]]
    for name in names:
        (tmp_path / name).touch()
    assert [f for f, _, _ in pretrain.training_files("illumina40_v2", tmp_path)] == names
    pairs = [name for name in names if "_R1." in name]
    assert pairs, "the illumina40 recipe lists paired files"
    with pytest.raises(FileNotFoundError, match="read 2 of"):
        pretrain.training_files("illumina40_v3", tmp_path)
    for name in pairs:
        (tmp_path / name.replace("_R1.", "_R2.")).touch()
    listed = pretrain.training_files("illumina40_v3", tmp_path)
    assert [m for _, _, m in listed].count(1) == len(pairs)


def test_single_thread_limits_blas_whichever_thread_enters_it() -> None:
    """A block's stream threads get one BLAS thread even after the main thread has used
    single_thread: threadpoolctl 3.8 let only the first thread that set OpenBLAS's pool set it
    again, and a stream thread's limit was silently dropped (BLAS on every core, a spinning
    second thread in each quality coder's process)."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from codec.model.threads import single_thread

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        if not blas() or min(blas()) < 2:
            pytest.skip("no BLAS pool of two threads to limit here")
        with single_thread():
            pass
        seen: list[list[int]] = []

        def stream() -> None:
            with single_thread():
                seen.append(blas())

        thread = threading.Thread(target=stream)
        thread.start()
        thread.join()
        assert seen == [[1] * len(blas())]
        assert min(blas()) == 2   # put back on leaving
