"""The thread policy and threading layer of kernels/_config.py."""

from __future__ import annotations

import importlib.util
import platform

import numba
import pytest

from kernels import _config


def test_threads_for_runs_small_work_on_one_thread_and_restores():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread: nothing to restrict")
    before = numba.get_num_threads()
    with _config.threads_for(0.0):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with _config.threads_for(10.0):  # large work: every thread
        assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), _config.threads_for(0.0):
        raise RuntimeError("restored on errors too")
    assert numba.get_num_threads() == before


def test_layers_that_wait_for_their_workers_get_a_higher_threshold():
    # OpenMP and workqueue end a region only when every worker is done: a region must be
    # long enough to win back a scheduler time slice (4-50 ms measured beside a busy core)
    t = _config.PARALLEL_MIN_SECONDS
    assert t["tbb"] < 1e-3 <= 1e-2 <= t["omp"] == t["workqueue"]


def test_blas_single_threaded_is_a_context():
    with _config.blas_single_threaded():
        pass
    if importlib.util.find_spec("threadpoolctl") is None:
        pytest.skip("threadpoolctl not installed: a no-op context")
    from threadpoolctl import threadpool_info

    with _config.blas_single_threaded():
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert all(i["num_threads"] == 1 for i in blas)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the tbb wheel exists for x86-64 only")
def test_tbb_is_the_threading_layer_where_the_wheel_is_installed():
    if importlib.util.find_spec("tbb") is None and _config.TBB_LIBRARY is None:
        pytest.skip("tbb wheel not installed")
    if _config.TBB_LIBRARY is None:
        pytest.skip("NUMBA_THREADING_LAYER is set: the user's choice wins")
    assert _config.threading_layer() == "tbb"
