"""A persistent isolated reader process for the HDF5 library.

Why
---
The HDF5 C library can crash (segmentation fault) or loop forever on corrupt
metadata, and it can allocate whatever a corrupt size field says; Python can
catch none of these. So every HDF5 read runs in a separate process: the first
call forks one reader process, later calls reuse it (no fork per file). A read
is one request over a Unix socket: the reader opens the file, reads the
metadata the format needs and the raw dataset into anonymous shared memory
(``memfd``), and answers with the metadata and the memory's file descriptor;
the caller maps it (no copy of the heights through the socket).

Limits of one request (from :mod:`metrology.io._policy`): CPU time (a
profiling timer kills the reader when a request spends more than
:data:`META_CPU_S` on metadata, or more than the data allowance on the bulk
read: an endless loop inside HDF5), wall time (a backstop for a blocked
read), and address space (``RLIMIT_AS``: base + the read's memory budget, so
a corrupt size makes HDF5's allocation fail instead of using gigabytes). A
crash, a time-out or a kill ends in :class:`FileFormatError`; the next call
starts a new reader.

Lifecycle
---------
* started on first use, by ``fork`` of the calling process (it already has
  h5py loaded; the reader closes every inherited file descriptor, ignores
  Ctrl-C and never returns into the caller's code);
* one request at a time (a lock), from any thread, in the caller's working
  directory of the moment (a relative path names the file the caller means,
  also after an ``os.chdir``);
* a process forked later (``multiprocessing`` with fork, a process pool)
  forgets the parent's reader and starts its own on first use, so two
  processes never share one;
* at interpreter exit the socket is closed, the reader sees end-of-file and
  exits; it is reaped (no zombie), killed after a short wait if it hangs.
  If the caller dies without exiting cleanly, the reader exits at its next
  read of the socket;
* ``METROLOGY_HDF5_GUARD=0`` (or a platform without ``fork``/``memfd``) runs
  the same read in the calling process instead.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import mmap
import os
import pickle
import select
import signal
import socket
import struct
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import FileFormatError
from . import _policy

__all__ = ["call", "enabled", "allocate", "phase", "shutdown", "worker_pid", "GUARD_ENV",
           "META_CPU_S", "DATA_CPU_BYTES_PER_S"]

#: environment switch: METROLOGY_HDF5_GUARD=0 reads in the calling process
GUARD_ENV = "METROLOGY_HDF5_GUARD"
#: CPU seconds a request may spend before its bulk data read (metadata takes milliseconds)
META_CPU_S = 1.0
#: the bulk read may take 1 s + decoded bytes / this rate of CPU time
DATA_CPU_BYTES_PER_S = 50e6
#: wall-clock backstop: this many seconds plus one per 10 MB of file
WALL_S = 10.0

_HDR = struct.Struct("<QI")  # payload length, number of file descriptors
_IN_WORKER = False
_lock = threading.Lock()
_worker: _Worker | None = None
#: the caller's reusable shared buffer: fd, mapping, capacity, weak reference to the array
#: last handed out from it (the buffer is offered again only once that array is gone)
_pool: dict[str, Any] = {}


def enabled() -> bool:
    """True when reads go to the isolated process (Linux with fork and memfd, not switched off)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")
            and os.environ.get(GUARD_ENV, "1") != "0" and not _IN_WORKER)


# -- inside the reader ---------------------------------------------------------------------------

_shared: list[tuple[int, mmap.mmap, np.ndarray]] = []
_phase_base: dict[str, Any] = {}
#: shared buffers up to this size are kept and reused for the next read (no page faults,
#: no zeroing); larger ones are made for one read
POOL_MAX_BYTES = 64 * 2**20
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
#: in the reader: the caller's reusable buffer offered with this request, and its mapping
_offer: dict[str, Any] = {}


def _map_fd(fd: int, nbytes: int) -> mmap.mmap:
    return mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | _POPULATE)


def allocate(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An uninitialised array for a dataset read: shared memory inside the reader process
    (the caller's reusable buffer when it is offered and large enough), plain memory
    otherwise."""
    if not _IN_WORKER:
        return np.empty(shape, dtype=dtype)
    dt = np.dtype(dtype)
    count = int(np.prod(shape))
    nbytes = max(count * dt.itemsize, 1)
    if _offer.get("mm") is not None and not _offer.get("used") and nbytes <= _offer["cap"]:
        _offer["used"] = True
        arr = np.frombuffer(_offer["mm"], dtype=dt, count=count).reshape(shape)
        _offer["arr"] = arr
        return arr
    fd = os.memfd_create("metrology-raw", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, nbytes)
        mm = _map_fd(fd, nbytes)
    except BaseException:
        os.close(fd)
        raise
    arr = np.ndarray(shape, dtype=dt, buffer=mm)
    _shared.append((fd, mm, arr))
    return arr


def _take_offer(fds: list[int]) -> None:
    """In the reader: map the caller's reusable buffer (kept mapped while it is the same)."""
    _offer["used"] = False
    _offer.pop("arr", None)
    if not fds:
        _offer["mm"] = None
        return
    fd = fds[0]
    for extra in fds[1:]:
        os.close(extra)
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino, st.st_size)
    if _offer.get("key") != key:
        old = _offer.get("mapping")
        _offer["mapping"] = None
        if old is not None:
            try:
                old.close()
            except BufferError:
                pass
        _offer["mapping"] = _map_fd(fd, st.st_size)
        _offer["key"] = key
    os.close(fd)
    _offer["mm"] = _offer["mapping"]
    _offer["cap"] = st.st_size


def phase(decoded_bytes: int) -> None:
    """Called by a read before its bulk data read: resets the CPU allowance to
    ``1 s + decoded_bytes / DATA_CPU_BYTES_PER_S`` and lets the address space grow by
    twice the decoded size (the array and one decoding buffer). No-op outside the reader."""
    if not _IN_WORKER:
        return
    cpu = 1.0 + decoded_bytes / DATA_CPU_BYTES_PER_S
    signal.setitimer(signal.ITIMER_PROF, cpu)
    _phase_base["cpu"] = cpu
    _set_as(_phase_base.get("as", 0) + 2 * decoded_bytes)


def _set_as(limit: int) -> None:
    import resource

    if limit <= 0:
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _vm_size() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj is _offer.get("arr"):
            return ("pool", 0, obj.shape, obj.dtype.str)
        if isinstance(obj, np.ndarray):
            for i, (_fd, _mm, arr) in enumerate(_shared):
                if obj is arr:
                    return ("shm", i, arr.shape, arr.dtype.str)
        return None


def _send(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    head = _HDR.pack(len(payload), len(fds))
    if fds:
        socket.send_fds(sock, [head], fds)
    else:
        sock.sendall(head)
    sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket) -> tuple[bytes, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(sock, _HDR.size, 16)
    if not data:
        raise EOFError
    if len(data) < _HDR.size:
        data += _recv_exact(sock, _HDR.size - len(data))
    n, _nfds = _HDR.unpack(data)
    return _recv_exact(sock, n), list(fds)


def _serve(sock: socket.socket) -> None:  # pragma: no cover - runs in the child process
    import gc

    global _IN_WORKER
    _IN_WORKER = True
    gc.freeze()  # inherited objects stay untouched (no copy-on-write of the caller's memory)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the CPU limit kills
    try:  # never load filter plugins named by a file (the readers also refuse such filters)
        from h5py import h5pl

        if hasattr(h5pl, "set_loading_state"):
            h5pl.set_loading_state(0)
        while h5pl.size():
            h5pl.remove(0)
    except Exception:  # noqa: BLE001
        pass
    while True:
        try:
            payload, offered = _recv(sock)
        except (EOFError, OSError):
            os._exit(0)
        try:
            _take_offer(offered)
            fn, args, lim, file_size, cwd = pickle.loads(payload)
            if cwd is not None:  # a relative path means the caller's folder, now
                with contextlib.suppress(OSError):
                    os.chdir(cwd)
            _policy._LIMITS.set(lim)
            _phase_base["as"] = _vm_size() + _policy.memory_budget(file_size)
            _set_as(_phase_base["as"])
            signal.setitimer(signal.ITIMER_PROF, META_CPU_S)
            result: Any = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back as a message
            result = ("error", type(exc).__name__, str(exc)[:4000],
                      isinstance(exc, FileFormatError))
        signal.setitimer(signal.ITIMER_PROF, 0)
        _reset_as()
        try:
            buf = io.BytesIO()
            _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(result)
            reply, fds = buf.getvalue(), [fd for fd, _, _ in _shared]
        except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable result
            reply = pickle.dumps(("error", type(exc).__name__, str(exc)[:4000], False))
            fds = []
        result = None
        _offer.pop("arr", None)
        try:
            _send(sock, reply, fds)
        except OSError:
            os._exit(0)
        finally:
            _release()


def _reset_as() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except (ValueError, OSError):
        pass


def _release() -> None:
    """Close the shared-memory descriptors and mappings of the last answer (in the reader)."""
    maps = []
    while _shared:
        fd, mm, arr = _shared.pop()
        os.close(fd)
        maps.append(mm)
        arr = None  # noqa: F841 - drop the last reference before unmapping
    for mm in maps:
        try:
            mm.close()
        except BufferError:  # an array still refers to it: unmapped when it goes
            pass


# -- in the caller -----------------------------------------------------------------------------

class _Worker:
    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        from h5py import _objects

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "fork in a threaded process"
            with _objects.phil:  # no other thread may hold h5py's lock across the fork
                pid = os.fork()
        if pid == 0:  # pragma: no cover - the reader: never return into the caller's code
            try:
                keep = child.fileno()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, keep)
                os.closerange(keep + 1, _max_fd())
                import faulthandler

                faulthandler.disable()  # a crash here is the finding, not something to print
                _serve(child)
            finally:
                os._exit(0)
        child.close()
        self.pid = pid
        self.owner = os.getpid()
        self.sock = parent

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.pid > 0

    def reap(self, kill: bool) -> int | None:
        """Close, (kill,) wait; the exit status, None when it had to be killed after a wait."""
        try:
            self.sock.close()
        except OSError:
            pass
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2.0
        while True:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return status
            if time.monotonic() > deadline:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(self.pid, 0)
                return None
            time.sleep(0.005)


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (ValueError, OSError):
        return 4096


def _forget_after_fork() -> None:
    """In a forked child: drop the parent's reader (never share one socket)."""
    global _worker, _lock
    w = _worker
    _worker = None
    _lock = threading.Lock()
    _pool.clear()  # the parent's buffer is shared with the parent: never reuse it here
    if w is not None:
        try:
            w.sock.close()  # this process's copy only
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def shutdown() -> None:
    """Stop the reader process (it is started again on the next read)."""
    global _worker
    with _lock:
        w, _worker = _worker, None
        if w is not None and w.alive():
            w.reap(kill=False)


atexit.register(shutdown)


def worker_pid() -> int | None:
    """Process id of the running reader, None when there is none (for tests and the fuzz)."""
    w = _worker
    return w.pid if w is not None and w.alive() else None


def _describe(status: int | None, cpu_s: float, what: str) -> str:
    if status is None:
        return f"did not finish ({what})"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGPROF:
            return (f"did not finish within its CPU allowance ({cpu_s:g} s for the metadata; an "
                    "endless loop)")
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"crashed ({name})"
    return f"exited unexpectedly (status {os.WEXITSTATUS(status)})"


def _pool_free() -> bool:
    ref = _pool.get("lease")
    return bool(_pool) and (ref is None or ref() is None)


def _map(fds: list[int]) -> Callable[[Any], Any]:
    def load(pid: Any) -> Any:
        tag, i, shape, dtype = pid
        dt = np.dtype(dtype)
        count = int(np.prod(shape))
        if tag == "pool":
            base = np.frombuffer(_pool["mm"], dtype=dt, count=count)
            _pool["lease"] = weakref.ref(base)
            return base.reshape(shape)
        if tag != "shm":
            raise pickle.UnpicklingError("unknown persistent id")
        nbytes = max(count * dt.itemsize, 1)
        mm = _map_fd(fds[i], nbytes)
        base = np.frombuffer(mm, dtype=dt, count=count)
        if nbytes <= POOL_MAX_BYTES and (not _pool or _pool_free()):
            old = _pool.get("fd")
            _pool.update(fd=os.dup(fds[i]), mm=mm, lease=weakref.ref(base))
            if old is not None:
                os.close(old)
        return base.reshape(shape)
    return load


def call(fn: Callable[..., Any], *args: Any, path: Any, file_size: int) -> Any:
    """Run ``fn(*args)`` in the isolated reader (or here when :func:`enabled` is False).

    ``fn`` must be a module-level function; its result may hold arrays made with
    :func:`allocate`, which arrive as arrays mapped from shared memory. An error
    raised by ``fn`` is raised here as :class:`FileFormatError` (naming ``path``);
    a crash, endless loop or time-out of the reader likewise.
    """
    if not enabled():
        return fn(*args)
    global _worker
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # the caller's folder was removed: only absolute paths can be read
        cwd = None
    request = pickle.dumps((fn, args, _policy.current_limits(), int(file_size), cwd),
                           protocol=pickle.HIGHEST_PROTOCOL)
    wall = WALL_S + file_size / 10e6
    with _lock:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        w = _worker
        offer = [_pool["fd"]] if _pool_free() else []
        try:
            _send(w.sock, request, offer)
            deadline = time.monotonic() + wall
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    _worker = None
                    w.reap(kill=True)
                    raise FileFormatError(f"{path}: the HDF5 library did not finish within "
                                          f"{wall:.0f} s reading this file (an endless loop or a "
                                          "blocked read); corrupt HDF5 file")
                ready, _, _ = select.select([w.sock], [], [], left)
                if ready:
                    break
            payload, fds = _recv(w.sock)
        except (EOFError, ConnectionError, OSError) as exc:
            if isinstance(exc, FileFormatError):
                raise
            _worker = None
            status = w.reap(kill=False)
            raise FileFormatError(f"{path}: corrupt HDF5 file: the HDF5 library "
                                  f"{_describe(status, META_CPU_S, 'no answer')} while reading "
                                  "it") from None
        except BaseException:
            _worker = None  # interrupted mid-request: the answer would come out of step
            w.reap(kill=True)
            raise
    try:
        unp = pickle.Unpickler(io.BytesIO(payload))
        unp.persistent_load = _map(fds)  # type: ignore[method-assign]
        result = unp.load()
    finally:
        for fd in fds:
            os.close(fd)
    if result[0] == "ok":
        return result[1]
    _, name, msg, is_ffe = result
    if is_ffe:
        raise FileFormatError(msg if str(path) in msg else f"{path}: {msg}")
    if name == "MemoryError":
        raise FileFormatError(f"{path}: reading it needs more memory than its budget of "
                              f"{_policy.memory_budget(file_size) / 2**20:.0f} MB (a corrupt size "
                              "field, or raise memory_factor / memory_slack_mb with "
                              "metrology.io.limits)")
    raise FileFormatError(f"{path}: corrupt HDF5 content ({name}: {msg})")
