"""Threads: one BLAS thread unless --threads asks for more on large products, the C engine on the free
cores; the same bits whatever the load; `scratchnet info` says what runs on what."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from scratchnet import cengine, cli, network, numpy_engine, optim, run, threads
from scratchnet.config import TrainConfig
from scratchnet.errors import ScratchnetError


def blas_now() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def no_cap():
    yield
    threads.set_cap(None)


@pytest.fixture
def idle_machine(monkeypatch):
    """free_cores as on a quiet machine: every core."""
    monkeypatch.setattr(threads, "free_cores", threads.cores)


def test_the_blas_gets_one_thread_or_the_count_asked_for_large_products(idle_machine, monkeypatch):
    assert threads.blas_threads(1, (784, 20, 10)) == 1  # the original program's per-sample SGD
    assert threads.blas_threads(128, (784, 800, 800, 10)) == 1  # --preset best, whatever the cores
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # a busy machine: the same count, the same bits
    assert threads.blas_threads(128, (784, 800, 800, 10)) == 1
    threads.set_cap(3)  # --threads 3: large products on 3 threads, however many cores are free
    assert threads.blas_threads(128, (784, 800, 800, 10)) == 3
    assert threads.blas_threads(10_000, (784, 20, 10)) == 3  # evaluation, a chunk at a time
    assert threads.blas_threads(32, (784, 20, 10)) == 1  # --preset tuned: 0.5 million multiply-adds
    assert threads.blas_threads(32, (784, 64, 32, 10)) == 1  # the network that took 25 s an epoch


@pytest.mark.parametrize("idle, total, free", [(100, 200, 1), (200, 200, 2), (0, 200, 1), (190, 200, 2)])
def test_free_cores_are_the_idle_share_of_the_machine(monkeypatch, idle, total, free):
    """Over the time it looks, /proc/stat's idle jiffies over all jiffies, times the CPUs: at least one."""
    looks = iter([(1000, 5000), (1000 + idle, 5000 + total)])
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(looks))
    monkeypatch.setattr(threads, "_free", None)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    assert threads.free_cores() == free
    assert threads.free_cores() == free  # remembered: no third look


def test_this_process_s_own_busy_threads_leave_its_cores_free(monkeypatch):
    """BLAS threads spinning after a product are this process's: the machine looks busy, the cores are ours."""
    looks = iter([(1000, 5000), (1000, 5200)])  # no idle time at all while it looked
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(looks))
    monkeypatch.setattr(threads, "_free", None)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    clock = iter([10.0, 10.0 + 2 * threads.LOOK_SECONDS])  # our threads used both cores the whole time
    monkeypatch.setattr(threads.time, "process_time", lambda: next(clock))
    assert threads.free_cores() == 2


def test_free_cores_without_proc_stat_are_every_core(monkeypatch):
    def missing():
        raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(threads, "_cpu_times", missing)
    monkeypatch.setattr(threads, "_free", None)
    assert threads.free_cores() == threads.cores()


def test_for_products_sets_the_threads_and_restores_them(idle_machine):
    before = blas_now()
    assert before, "NumPy's BLAS is visible to threadpoolctl"
    with threads.for_products(32, (784, 20, 10)) as n:
        assert n == 1 and blas_now() == [1] * len(before)
    assert blas_now() == before


def c_engine_threads() -> int:
    try:
        return cengine.threads(np.float64)
    except ScratchnetError:
        pytest.skip("the C engine is not built")


def test_on_a_busy_machine_the_c_engine_runs_on_the_free_core(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 1)
    assert c_engine_threads() == threads.cores()
    with threads.for_products(128, (784, 800, 800, 10), "numpy") as n:
        assert n == 1 and set(blas_now()) == {1}
    with threads.for_products(32, (784, 20, 10), "c") as n:
        assert n == 1 and cengine.threads(np.float64) == 1
    assert cengine.threads(np.float64) == threads.cores()  # restored
    monkeypatch.setattr(threads, "free_cores", threads.cores)
    with threads.for_products(32, (784, 20, 10), "c") as n:  # quiet: the C engine's loops choose, up to every core
        assert n == threads.cores() == cengine.threads(np.float64)


def test_training_runs_on_the_threads_its_products_call_for(small, monkeypatch, idle_machine):
    """With --threads 2, run.train_epochs's epochs of batches of 32 see one BLAS thread, its evaluation of 500 images at
    once two."""
    threads.set_cap(2)
    monkeypatch.setattr(threads, "BIG_PRODUCT", 500 * 784 * 20)  # between the two workloads
    seen: dict[str, list[int]] = {}
    epoch, predict = numpy_engine.train_epoch, network.Network.predict

    def recording_epoch(*args, **kwargs):
        seen["epoch"] = blas_now()
        return epoch(*args, **kwargs)

    def recording_predict(self, x):
        seen["predict"] = blas_now()
        return predict(self, x)

    monkeypatch.setattr(numpy_engine, "train_epoch", recording_epoch)
    monkeypatch.setattr(network.Network, "predict", recording_predict)
    cfg = TrainConfig(batch_size=32, epochs=1)
    net = network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(0))
    next(run.train_epochs(net, optim.Optimizer(cfg, net), cfg, small.train_images, small.train_labels,
                   small.test_images, small.test_labels))
    assert set(seen["epoch"]) == {1}
    assert set(seen["predict"]) == {2}


def test_threads_option_caps_the_c_engine(small_npz, tmp_path, capsys):
    c_engine_threads()
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


BIG = dict(layers=(784, 256, 10), hidden="relu", output="softmax", init="he", dtype="float32", batch_size=128,
           optimizer="nesterov", lr=0.1, shuffle=True)  # 128 x 784 x 256 multiply-adds: over BIG_PRODUCT


def trained_params(small, tmp_path, name: str, engine: str = "numpy") -> list[np.ndarray]:
    path = tmp_path / name
    ckpt = run.start(path, {**BIG, "epochs": 1})
    assert run.train(ckpt, small, path, engine=engine)
    return ckpt.network.weights + ckpt.network.biases


@pytest.mark.skipif(threads.cores() < 2, reason="one core: no other thread count to compare with")
def test_the_same_seed_gives_the_same_bits_however_busy_the_machine(small, tmp_path, monkeypatch):
    """NumPy: the BLAS's bits follow its thread count, so the count must not follow the load, with or
    without --threads."""
    assert 128 * 784 * 256 >= threads.BIG_PRODUCT
    for cap in (None, 2):
        threads.set_cap(cap)
        monkeypatch.setattr(threads, "free_cores", threads.cores)
        quiet = trained_params(small, tmp_path, f"quiet{cap}.npz")
        monkeypatch.setattr(threads, "free_cores", lambda: 1)
        busy = trained_params(small, tmp_path, f"busy{cap}.npz")
        assert all(np.array_equal(a, b) for a, b in zip(quiet, busy, strict=True))


@pytest.mark.skipif(threads.cores() < 2, reason="one core: no other thread count to compare with")
def test_the_c_engine_gives_the_same_bits_on_any_number_of_threads(small, tmp_path, monkeypatch):
    """Its threads take whole blocks of columns: the bits do not depend on how many there are, so it may
    follow the load (and --threads)."""
    c_engine_threads()
    seen = []
    for cap in (1, 2):
        threads.set_cap(cap)
        monkeypatch.setattr(threads, "free_cores", lambda: 2)
        seen.append(trained_params(small, tmp_path, f"c{cap}.npz", "c"))
    assert all(np.array_equal(a, b) for a, b in zip(*seen, strict=True))
