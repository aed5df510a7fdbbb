"""Write the LSMI demonstration data: two Gaussian classes in two 2-d modalities.

The published LSMI estimator (Yang, Wang and Hu, "Efficient Quantification of Multimodal
Interaction at Sample Level", ICML 2025) demonstrates itself on data made by its
``gaussian_data.py``: 2 classes, two modalities of 2 dimensions each, the class means
one-hot vectors, 1,600 training and 400 validation samples, stored as a ``.pt`` dict in
the LSMI layout with float32 features. This script writes data of that description
(its own code, written from the description, not a copy):

* labels: 2,000 samples, half of each class, in random order;
* ``x_m = onehot(y) + noise * eps_m`` for ``m = 1, 2``, ``eps_m ~ N(0, I_2)`` independent
  across samples and modalities (``--noise``, default 0.5);
* the first 1,600 samples are ``train``, the last 400 ``val``.

    python benchmarks/lsmi_demo_data.py --out /tmp/lsmi_demo.pt [--seed 0] [--noise 0.5]

Only NumPy and torch are imported, so the file can be made without dmil installed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

N_TRAIN = 1600
N_VAL = 400
N_CLASSES = 2
DIM = 2


def make_demo(*, seed: int = 0, noise: float = 0.5) -> dict[str, torch.Tensor]:
    """The LSMI-layout dict: ``{train,val}_modal_{1,2}_features`` and ``{train,val}_targets``."""
    if not noise > 0:
        raise ValueError(f"--noise: expected a positive number, found {noise!r}.")
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_VAL
    y = rng.permutation(np.arange(n) % N_CLASSES)
    means = np.eye(N_CLASSES, DIM)[y]  # (N, 2): one-hot class means
    x1 = means + noise * rng.standard_normal((n, DIM))
    x2 = means + noise * rng.standard_normal((n, DIM))
    blob: dict[str, torch.Tensor] = {}
    for name, part in (("train", slice(0, N_TRAIN)), ("val", slice(N_TRAIN, n))):
        blob[f"{name}_modal_1_features"] = torch.from_numpy(x1[part].astype(np.float32))
        blob[f"{name}_modal_2_features"] = torch.from_numpy(x2[part].astype(np.float32))
        blob[f"{name}_targets"] = torch.from_numpy(y[part].astype(np.int64))
    return blob


def write_demo(path: str | os.PathLike[str], *, seed: int = 0, noise: float = 0.5) -> Path:
    """Write :func:`make_demo` to ``path`` (atomically) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        torch.save(make_demo(seed=seed, noise=noise), tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the .pt file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.5, help="noise standard deviation")
    args = parser.parse_args(argv)
    path = write_demo(args.out, seed=args.seed, noise=args.noise)
    print(f"wrote {path} ({N_TRAIN} train / {N_VAL} val, {N_CLASSES} classes, {DIM}+{DIM} dims)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
