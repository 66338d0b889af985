"""Threads: one BLAS thread for small matrix products, every core for large ones, --threads caps both
the BLAS and the C engine; `scratchnet info` says what runs on what."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from scratchnet import cengine, cli, threads, train
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError


def blas_now() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def no_cap():
    yield
    threads.set_cap(None)


def test_small_products_get_one_blas_thread_large_ones_every_core():
    assert threads.blas_threads(1, (784, 20, 10)) == 1  # the seed's per-sample SGD
    assert threads.blas_threads(32, (784, 20, 10)) == 1  # --preset tuned: 0.5 million multiply-adds
    assert threads.blas_threads(32, (784, 64, 32, 10)) == 1  # the network that took 25 s an epoch
    assert threads.blas_threads(128, (784, 800, 800, 10)) == threads.cores()  # --preset best
    assert threads.blas_threads(10_000, (784, 20, 10)) == threads.cores()  # evaluation, a chunk at a time
    threads.set_cap(1)
    assert threads.blas_threads(128, (784, 800, 800, 10)) == 1


def test_for_products_sets_the_blas_threads_and_restores_them():
    before = blas_now()
    assert before, "NumPy's BLAS is visible to threadpoolctl"
    with threads.for_products(32, (784, 20, 10)) as n:
        assert n == 1 and blas_now() == [1] * len(before)
    assert blas_now() == before


def test_training_runs_on_the_threads_its_products_call_for(small, monkeypatch):
    """fit's epochs of batches of 32 see one BLAS thread, its evaluation of 500 images at once every core."""
    monkeypatch.setattr(threads, "BIG_PRODUCT", 500 * 784 * 20)  # between the two workloads
    seen: dict[str, list[int]] = {}
    epoch, predict = train.train_epoch, train.network.Network.predict

    def recording_epoch(*args, **kwargs):
        seen["epoch"] = blas_now()
        return epoch(*args, **kwargs)

    def recording_predict(self, x):
        seen["predict"] = blas_now()
        return predict(self, x)

    monkeypatch.setattr(train, "train_epoch", recording_epoch)
    monkeypatch.setattr(train.network.Network, "predict", recording_predict)
    cfg = TrainConfig(batch_size=32, epochs=1)
    net = train.network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(0))
    next(train.fit(net, train.Optimizer(cfg, net), cfg, small.train_images, small.train_labels,
                   small.test_images, small.test_labels))
    assert set(seen["epoch"]) == {1}
    assert set(seen["predict"]) == {threads.cores()}


def test_threads_option_caps_the_c_engine(small_npz, tmp_path, capsys):
    try:
        cengine.library(np.float64)
    except ScratchnetError:
        pytest.skip("the C engine is not built")
    assert cli.main(["train", "--engine", "c", "--threads", "1", "--data", str(small_npz), "-p",
                     str(tmp_path / "p.npz"), "--epochs", "1", "--json"]) == 0
    assert cengine.threads(np.float64) == 1
    threads.set_cap(None)
    assert cengine.threads(np.float64) == threads.cores()
    capsys.readouterr()


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_threads_must_be_a_positive_number(capsys, value):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--threads", value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and f"'{value}' is not a whole number of threads" in err


def test_info_names_the_engines_the_blas_the_threads_and_the_data(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"NumPy {np.__version__}, BLAS " in out
    assert f"threads: {threads.cores()} cores" in out
    assert "engine c: " in out and "scratchnet-c: " in out and "data: " in out
