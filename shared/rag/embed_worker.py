"""The embedding worker: the model in a child interpreter, serving encode requests over a Unix socket.

Why it exists, and when it is used: see shared/rag/embedding.py (GIBSEY_EMBED_MODE). This module has both
sides:

* ``EmbedClient`` (the serving process, e.g. a Nameko service). One per process (``shared_client()``).
  It starts ``python -m shared.rag.embed_worker`` with ``subprocess`` (a fresh interpreter: no fork of an
  eventlet-patched process, no re-import of the caller's ``__main__`` as multiprocessing's spawn does) and
  talks to it over one end of a socketpair made with ``_socket``, the C module eventlet never patches.
  Waiting is cooperative under eventlet (the socket is non-blocking and the green thread parks in
  ``eventlet.hubs.trampoline`` until the fd is ready, so the hub keeps running every other green thread)
  and a plain blocking wait with a timeout otherwise. A lock (green under eventlet) keeps one request on
  the wire at a time; a large batch goes as several requests of ``CHUNK`` texts, so other callers can get
  a turn between them. A worker that dies is restarted on the next request (which is retried once);
  a worker that does not answer within the timeout is killed and the call fails with
  ``EmbedWorkerTimeout``. A caller interrupted while waiting (eventlet.Timeout, a Nameko worker being
  killed) leaves its reply to be skipped by request id; one interrupted half-way through a frame makes the
  stream unusable, so the worker is replaced.
* ``main()`` (the child). Loads the model once, then answers ``(id, op, payload)`` frames until the socket
  reaches end-of-file (the parent closed it or died) or the parent process is gone (checked every second,
  which also covers a parent killed while a long batch is being encoded). It ignores SIGINT: Ctrl-C in a
  terminal reaches the whole process group, and the parent decides when the worker ends.

Frames: 8-byte big-endian length, then a pickle. Both ends are this module; nothing else writes the socket.
"""

from __future__ import annotations

import _socket
import argparse
import atexit
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from shared.rag.embedding import DIMENSIONS, encode_with, eventlet_patched, load_model

log = logging.getLogger(__name__)

CHUNK = 1024  # texts per request: a multiple of the model's batch size
_HEADER = struct.Struct("!Q")
_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the `shared` package


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def request_timeout(n_texts: int) -> float:
    """Seconds to wait for one request: GIBSEY_EMBED_TIMEOUT_S (default 60) plus 0.1 s a text. On 2 cores
    the model does ~200 sentence-length texts a second when idle and ~40 under heavy load (measured), so
    this is a hang detector, not a performance bound."""
    return _env_float("GIBSEY_EMBED_TIMEOUT_S", 60.0) + 0.1 * n_texts


def load_timeout() -> float:
    return _env_float("GIBSEY_EMBED_LOAD_TIMEOUT_S", 300.0)


class EmbedWorkerError(RuntimeError):
    """The embedding worker failed, could not start, or died twice on one request."""


class EmbedWorkerTimeout(EmbedWorkerError, TimeoutError):
    """The embedding worker did not answer in time (it has been killed; the next call starts a new one)."""


class _Channel:
    """Length-prefixed pickle frames over a stream socket, waiting green under eventlet, natively otherwise."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.partial = False  # a frame is half sent or half read: the stream cannot be trusted any more

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, obj: Any, deadline: float | None) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        buf = memoryview(_HEADER.pack(len(data)) + data)
        sent = 0
        while sent < len(buf):
            sent += self._io(self.sock.send, buf[sent:], read=False, deadline=deadline)
            self.partial = sent < len(buf)

    def recv(self, deadline: float | None) -> Any:
        (size,) = _HEADER.unpack(self._recv_exact(_HEADER.size, deadline))
        body = self._recv_exact(size, deadline)
        self.partial = False
        return pickle.loads(body)

    def _recv_exact(self, size: int, deadline: float | None) -> bytearray:
        buf = bytearray(size)
        view, got = memoryview(buf), 0
        while got < size:
            n = self._io(self.sock.recv_into, view[got:], read=True, deadline=deadline)
            if n == 0:
                raise EOFError("the other end closed the socket")
            got += n
            self.partial = True
        return buf

    def _io(self, op: Callable[[memoryview], int], arg: memoryview, *, read: bool, deadline: float | None) -> int:
        green = eventlet_patched()
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out")
            if not green:
                self.sock.settimeout(remaining)  # native blocking wait (poll inside the socket module)
                return op(arg)
            self.sock.setblocking(False)
            try:
                return op(arg)
            except BlockingIOError:
                from eventlet.hubs import trampoline

                # Park this green thread until the fd is ready; the hub runs everything else meanwhile.
                trampoline(self.sock.fileno(), read=read, write=not read, timeout=remaining,
                           timeout_exc=TimeoutError("timed out"))


def _make_lock():
    if eventlet_patched():
        from eventlet.semaphore import Semaphore

        return Semaphore(1)
    return threading.Lock()


def _reap(proc: subprocess.Popen, seconds: float) -> int | None:
    """The exit code once `proc` has ended, waiting up to `seconds` (time.sleep is green under eventlet)."""
    end = time.monotonic() + seconds
    while True:
        code = proc.poll()
        if code is not None or time.monotonic() >= end:
            return code
        time.sleep(0.01)


class EmbedClient:
    """The serving side: starts the worker on first use, sends it texts, returns their vectors."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._chan: _Channel | None = None
        self._ids = itertools.count(1)
        self._lock = _make_lock()
        self.starts = 0  # workers started so far (a restart after a crash counts again)
        self.info: dict = {}  # what the current worker reported when ready (pid, torch threads, load time)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the worker and wait until it has loaded the model (no-op when it is already up)."""
        with self._lock:
            self._ensure()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        parts = [self._request("encode", texts[i:i + CHUNK], request_timeout(len(texts[i:i + CHUNK])))
                 for i in range(0, len(texts), CHUNK)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def ping(self) -> int:
        """The worker's pid, from the worker (starting it if needed)."""
        return self._request("ping", None, request_timeout(0))

    def close(self) -> None:
        """Stop the worker: close the socket (it exits on end-of-file), then kill it if it lingers."""
        chan, proc = self._chan, self._proc
        self._chan = self._proc = None
        if chan is not None:
            chan.close()
        if proc is not None and _reap(proc, 2.0) is None:
            proc.kill()
            _reap(proc, 2.0)

    def _request(self, op: str, payload: Any, timeout: float) -> Any:
        with self._lock:
            for attempt in (1, 2):
                self._ensure()
                chan, rid = self._chan, next(self._ids)
                deadline = time.monotonic() + timeout
                try:
                    chan.send((rid, op, payload), deadline)
                    while True:
                        got, status, result = chan.recv(deadline)
                        if got == rid:
                            break
                        # else: the reply to a request whose caller gave up while waiting; skip it
                except (EOFError, ConnectionError) as exc:
                    code = self._discard()
                    if attempt == 2:
                        raise EmbedWorkerError(f"the embedding worker died twice on one request "
                                               f"(exit code {code})") from exc
                    log.warning("embedding worker died (exit code %s); starting a new one", code)
                    continue
                except TimeoutError as exc:
                    self._discard()
                    raise EmbedWorkerTimeout(f"the embedding worker did not answer in {timeout:.3g} s "
                                             f"({op}); it was killed") from exc
                except BaseException:
                    if chan.partial:  # interrupted mid-frame (e.g. eventlet.Timeout, GreenletExit)
                        self._discard()
                    raise
                if status == "ok":
                    return result
                raise EmbedWorkerError(f"the embedding worker failed on {op}:\n{result}")
        raise AssertionError("unreachable")

    def _ensure(self) -> None:
        """A live worker with the model loaded; called with the lock held."""
        if self._proc is not None and self._proc.poll() is None and self._chan is not None \
                and not self._chan.partial:
            return
        if self._proc is not None:
            code = self._discard()
            log.warning("embedding worker gone (exit code %s); starting a new one", code)
        self._spawn()

    def _spawn(self) -> None:
        started = time.monotonic()
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable or "python3", "-m", "shared.rag.embed_worker",
                 "--fd", str(theirs.fileno()), "--parent", str(os.getpid())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, cwd=str(_ROOT))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # only the child holds it now, so its exit is our end-of-file
        self._proc, self._chan = proc, _Channel(ours)
        try:
            _, status, info = self._chan.recv(time.monotonic() + load_timeout())
        except TimeoutError as exc:
            self._discard()
            raise EmbedWorkerTimeout(f"the embedding worker did not load the model in {load_timeout():.0f} s") \
                from exc
        except (EOFError, ConnectionError) as exc:
            code = self._discard()
            raise EmbedWorkerError(f"the embedding worker exited while starting (exit code {code}); "
                                   "see its stderr") from exc
        except BaseException:
            self._discard()
            raise
        if status != "ready":
            self._discard()
            raise EmbedWorkerError(f"the embedding worker could not load the model:\n{info}")
        self.starts += 1
        self.info = dict(info, ready_s=round(time.monotonic() - started, 2))
        log.info("embedding worker pid %s ready in %.1f s (%s torch threads)", proc.pid,
                 self.info["ready_s"], info.get("torch_threads"))

    def _discard(self) -> int | None:
        """Drop the current worker (killed if still running); its exit code."""
        chan, proc = self._chan, self._proc
        self._chan = self._proc = None
        if chan is not None:
            chan.close()
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        return _reap(proc, 5.0)

    def _abandon(self) -> None:
        """In a forked child of the owner: let go of the inherited socket without touching the worker."""
        if self._chan is not None:
            self._chan.close()
        self._chan = self._proc = None


_shared: EmbedClient | None = None
_shared_pid: int | None = None
_shared_guard = threading.Lock()  # never held across a wait, so safe whether green or native


def shared_client() -> EmbedClient:
    """This process's embedding worker client (a forked child gets its own)."""
    global _shared, _shared_pid
    with _shared_guard:
        if _shared is None or _shared_pid != os.getpid():
            if _shared is not None:
                _shared._abandon()
            _shared, _shared_pid = EmbedClient(), os.getpid()
            atexit.register(_shared.close)
        return _shared


# ---------------------------------------------------------------- the child

def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)  # the parent is gone (we were re-parented): no one is left to answer
        time.sleep(1.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.rag.embed_worker",
                                     description="Serve the sentence embedder to the parent process.")
    parser.add_argument("--fd", type=int, required=True, help="our end of the parent's socketpair")
    parser.add_argument("--parent", type=int, required=True, help="the parent's pid (we exit when it is gone)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(args.parent,), name="watch-parent", daemon=True).start()
    chan = _Channel(socket.socket(fileno=args.fd))
    started = time.monotonic()
    try:
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no tqdm bar in the services' JSON log stream
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        model = load_model()
        encode_with(model, ["warm-up"])  # the first call pays for lazy initialisation: not a reader's query
        import torch

        info = {"pid": os.getpid(), "torch_threads": torch.get_num_threads(),
                "load_s": round(time.monotonic() - started, 2)}
    except BaseException:
        chan.send((0, "error", traceback.format_exc()), None)
        return 1
    chan.send((0, "ready", info), None)
    while True:
        try:
            rid, op, payload = chan.recv(None)
        except (EOFError, ConnectionError):
            return 0
        try:
            if op == "encode":
                reply = (rid, "ok", encode_with(model, payload))
            elif op == "ping":
                reply = (rid, "ok", os.getpid())
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception:  # noqa: BLE001 - reported to the caller, the worker stays up
            reply = (rid, "error", traceback.format_exc())
        try:
            chan.send(reply, None)
        except (BrokenPipeError, ConnectionError):
            return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown (seconds with torch loaded): nothing of ours needs it
