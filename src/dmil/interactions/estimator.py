"""The sample-level interaction estimator.

For every sample ``(x_1, ..., x_M, y)`` it estimates, for every pair of modalities, the
redundancy ``r``, the uniqueness ``u1, u2`` and the synergy ``s`` (nats), from

* three probabilistic classifiers per pair, ``p(y | x_i)``, ``p(y | x_j)`` and
  ``p(y | x_i, x_j)`` (the unimodal ones shared between pairs), giving pointwise MI
  ``i = log p(y | x) - log p(y)`` with the empirical label prior of the labelled data
  given to ``fit`` (training and validation parts, which a stratified carve keeps alike);
* for ``measure="lsmi"`` also one density model per modality, giving ``h(x_m) = -log p(x_m)``.

Continuous modalities use MLPs and a learnable Gaussian mixture; discrete ones (few
distinct values, whatever the dtype: bits stored as floats count; see
:mod:`.encoding`) use exact counts over all labelled data given to ``fit`` (counts need
no validation). All neural models are trained together
in memory, each with early stopping on its validation loss, and the classifiers are
calibrated by temperature scaling on the validation data.
"""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import torch

from dmil.data.container import MultimodalDataset
from dmil.interactions.checks import (
    NotFittedError,
    carve_validation,
    check_classes,
    check_dataset,
    check_device,
    check_positive,
    torch_threads,
)
from dmil.interactions.classifiers import (
    CountClassifier,
    MLPClassifier,
    fit_temperature,
    joint_codes,
)
from dmil.interactions.density import CountDensity, GaussianMixtureDensity
from dmil.interactions.encoding import ModalityCoder, fit_coder
from dmil.interactions.pointwise import check_measure, decompose
from dmil.interactions.table import InteractionTable, combine_pairs
from dmil.interactions.training import Head, Rows, TrainSettings, train_heads
from dmil.utils import RandomState, check_random_state

__all__ = ["InteractionEstimator"]

logger = logging.getLogger(__name__)

Source = tuple[int, ...]

#: Largest number of joint values a pair of discrete modalities may have for exact counts.
_MAX_JOINT_VALUES = 1 << 16
#: Up to this many training samples: batches of 512; above, larger batches.
_SMALL_DATA = 50_000
#: Validation samples at most used for early stopping and temperature scaling.
_MAX_VAL_SAMPLES = 65536
#: Training rows used to initialise each Gaussian mixture (hard-assignment steps).
_GMM_INIT_SAMPLES = 4096


class InteractionEstimator:
    """Per-sample redundancy, uniqueness and synergy, shaped like a scikit-learn transformer.

    Parameters
    ----------
    measure : {"ccs", "lsmi"}, default "ccs"
        ``"ccs"``: Ince's common change in surprisal per sample (classifiers only).
        ``"lsmi"``: the Finn-Lizier pointwise decomposition used by LSMI (classifiers and
        a density model per modality). See ``docs/interactions.md``.
    device : str, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; the same code runs on either.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the validation carve, the initialisations and the batch order.
    hidden : int, default 128
        Width of the classifier MLPs.
    n_layers : int, default 2
        Hidden layers of the classifier MLPs.
    max_epochs : int, default 300
        Cap on passes over the training data.
    patience : int, default 10
        Checks without improvement of the validation loss before a model stops.
    batch_size : int or None, default None
        Mini-batch size; ``None`` picks 512 up to 50,000 training samples and
        ``n_train // 100`` (at most 16,384) above, so large data take large batches.
    lr : float, default 3e-3
        AdamW learning rate.
    weight_decay : float, default 1e-5
    n_components : int, default 5
        Gaussian components per modality density (``lsmi``).
    calibrate : bool, default True
        Temperature-scale each classifier on the validation data.
    max_discrete_values : int, default 64
        Modalities with at most this many distinct rows use exact counts (integer dtypes
        always, floating ones when each distinct row occurs at least twice on average);
        ``0`` models every modality as continuous.
    smoothing : float, default 0.5
        Pseudo-count of the count-based models.
    val_size : float, default 0.2
        Fraction of ``train`` carved (stratified) for validation when ``val`` is not given.
    chunk_size : int, default 65536
        Samples per chunk in ``transform`` and validation passes.
    n_threads : int or None, default None
        ``torch.set_num_threads`` during fit and transform (restored afterwards). ``None``:
        1 thread on the CPU, torch's setting on CUDA. The models are small (matrix products
        of width <= ``hidden``), where a second thread gains at most about 1.8x on an idle
        machine and, measured on a shared 2-core machine, made training several times slower
        (threads spin-waiting for busy cores); pass ``n_threads`` on dedicated cores.
    progress : bool or None, default None
        Progress bar during fitting; ``None`` shows it when stderr is a terminal.
    """

    def __init__(
        self,
        *,
        measure: str = "ccs",
        device: str = "cpu",
        random_state: RandomState = 0,
        hidden: int = 128,
        n_layers: int = 2,
        max_epochs: int = 300,
        patience: int = 10,
        batch_size: int | None = None,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        n_components: int = 5,
        calibrate: bool = True,
        max_discrete_values: int = 64,
        smoothing: float = 0.5,
        val_size: float = 0.2,
        chunk_size: int = 65536,
        n_threads: int | None = None,
        progress: bool | None = None,
    ) -> None:
        self.measure = measure
        self.device = device
        self.random_state = random_state
        self.hidden = hidden
        self.n_layers = n_layers
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_components = n_components
        self.calibrate = calibrate
        self.max_discrete_values = max_discrete_values
        self.smoothing = smoothing
        self.val_size = val_size
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> torch.device:
        check_measure(self.measure)
        for name in ("hidden", "n_layers", "max_epochs", "patience", "n_components", "chunk_size"):
            check_positive(getattr(self, name), name, integer=True)
        check_positive(self.batch_size, "batch_size", integer=True, allow_none=True)
        check_positive(self.n_threads, "n_threads", integer=True, allow_none=True)
        check_positive(self.lr, "lr", integer=False)
        check_positive(self.smoothing, "smoothing", integer=False)
        if not isinstance(self.max_discrete_values, int) or self.max_discrete_values < 0:
            raise ValueError(
                "max_discrete_values: expected an integer >= 0, found "
                f"{self.max_discrete_values!r}."
            )
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValueError(f"weight_decay: expected a number >= 0, found {self.weight_decay!r}.")
        if not isinstance(self.val_size, float) or not 0.0 < self.val_size < 1.0:
            raise ValueError(f"val_size: expected a float in (0, 1), found {self.val_size!r}.")
        return check_device(self.device)

    def _check_compatible(self, data: MultimodalDataset, what: str) -> None:
        if data.n_modalities != self.n_modalities_:
            raise ValueError(
                f"{what}: the estimator was fitted on {self.n_modalities_} modalities, found "
                f"{data.n_modalities}. Pass data with the same modalities, in the same order."
            )
        for m, (x, shape) in enumerate(zip(data.modalities, self.input_shapes_, strict=True)):
            if tuple(x.shape[1:]) != shape:
                raise ValueError(
                    f"{what}: modality {m} ('{data.modality_names[m]}') has per-sample shape "
                    f"{tuple(x.shape[1:])}, but fit saw {shape}."
                )
            coders = getattr(self, "coders_", None)
            if (
                coders is not None
                and coders[m].discrete
                and x.dtype.is_floating_point != coders[m].floating
            ):
                seen = "floating" if coders[m].floating else "integer"
                raise TypeError(
                    f"{what}: modality {m} ('{data.modality_names[m]}') is {x.dtype}, but fit "
                    f"saw discrete {seen} codes; pass the same kind of dtype as in fit."
                )
        if data.n_classes != self.n_classes_:
            raise ValueError(
                f"{what}: {data.n_classes} classes, but fit saw {self.n_classes_}; labels must "
                "use the same classes."
            )

    # --------------------------------------------------------------------- fit
    def fit(
        self, train: MultimodalDataset, val: MultimodalDataset | None = None
    ) -> InteractionEstimator:
        """Fit the classifiers (and, for ``lsmi``, the densities).

        Parameters
        ----------
        train : MultimodalDataset
            Training data, ``M >= 2`` modalities of shape ``(N, ...)``.
        val : MultimodalDataset, optional
            Validation data for early stopping and calibration; by default a stratified
            ``val_size`` part is carved out of ``train``.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        device = self._check_params()
        train = check_dataset(train, "train")
        rng = check_random_state(self.random_state)
        train_labels = train.labels.numpy()
        check_classes(train_labels, train.n_classes, "train")
        if val is None:
            train_pos, val_pos = carve_validation(train_labels, self.val_size, rng)
            train_rows = torch.from_numpy(train_pos)
            val_data, val_rows = train, torch.from_numpy(val_pos)
            all_labels = train_labels
        else:
            val_data, train_rows, val_rows = check_dataset(val, "val"), None, None
            all_labels = np.concatenate([train_labels, val_data.labels.numpy()])
        self.n_modalities_ = train.n_modalities
        self.input_shapes_ = tuple(tuple(int(s) for s in x.shape[1:]) for x in train.modalities)
        self.modality_names_ = tuple(train.modality_names)
        self.n_classes_ = train.n_classes
        if hasattr(self, "coders_"):
            del self.coders_  # a previous fit's coders must not judge the new data
        if val is not None:
            self._check_compatible(val_data, "val")
        self.coders_: list[ModalityCoder] = [
            fit_coder(
                x,
                rows=train_rows,
                max_discrete_values=self.max_discrete_values,
                name=n,
                extra=None if val is None else val.modalities[m],
            )
            for m, (x, n) in enumerate(zip(train.modalities, train.modality_names, strict=True))
        ]
        if val is not None:
            self._check_compatible(val_data, "val")  # now also the dtypes
        counts = np.bincount(all_labels, minlength=self.n_classes_)
        if counts.min() == 0:
            logger.warning(
                "classes %s never occur in the data passed to fit; samples of them cannot be "
                "scored",
                np.flatnonzero(counts == 0).tolist(),
            )
        self.prior_ = counts / counts.sum()
        seed = int(rng.integers(2**31 - 1))
        with torch_threads(self._threads(device)):
            self._fit_models(train, train_rows, val_data, val_rows, device, seed)
            self.summary_ = self._table(val_data, val_rows, device).summary()
        self.n_train_ = int(len(train) if train_rows is None else train_rows.numel())
        self.n_val_ = int(len(val_data) if val_rows is None else val_rows.numel())
        self.summary_["evaluated_on"] = "validation"
        self.fit_seconds_ = time.perf_counter() - start
        logger.info("fitted %s estimator in %.2f s", self.measure, self.fit_seconds_)
        return self

    def _threads(self, device: torch.device) -> int | None:
        """Torch threads: the setting, else 1 on the CPU (see ``n_threads``)."""
        if self.n_threads is not None:
            return int(self.n_threads)
        return 1 if device.type == "cpu" else None

    def _sources(self) -> list[Source]:
        m = self.n_modalities_
        return [(i,) for i in range(m)] + list(itertools.combinations(range(m), 2))

    def _source_name(self, source: Source) -> str:
        return "+".join(self.modality_names_[i] for i in source)

    def _is_count_source(self, source: Source) -> bool:
        coders = [self.coders_[i] for i in source]
        if not all(c.discrete for c in coders):
            return False
        return int(np.prod([c.n_values for c in coders])) <= _MAX_JOINT_VALUES

    def _codes(self, data: MultimodalDataset) -> list[torch.Tensor | None]:
        pairs = zip(self.coders_, data.modalities, strict=True)
        return [c.codes(x) if c.discrete else None for c, x in pairs]

    def _features(self, data: MultimodalDataset, device: torch.device) -> list[torch.Tensor]:
        """Feature tensors of every modality that a neural model reads (others: empty)."""
        needed = {i for s in self._neural_sources() for i in s}
        if self.measure == "lsmi":
            needed |= {m for m, c in enumerate(self.coders_) if not c.discrete}
        return [
            c.features(x).to(device) if m in needed else torch.empty(0)
            for m, (c, x) in enumerate(zip(self.coders_, data.modalities, strict=True))
        ]

    def _neural_sources(self) -> list[Source]:
        return [s for s in self._sources() if not self._is_count_source(s)]

    def _batch_size(self, n_train: int) -> int:
        if self.batch_size is not None:
            return int(self.batch_size)
        return 512 if n_train <= _SMALL_DATA else min(16_384, n_train // 100)

    def _fit_models(
        self,
        train: MultimodalDataset,
        train_rows: torch.Tensor | None,
        val: MultimodalDataset,
        val_rows: torch.Tensor | None,
        device: torch.device,
        seed: int,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        y = train.labels
        fit_rows = train_rows if train_rows is not None else torch.arange(len(train))
        # Count models need no early stopping: they use every labelled sample given to fit.
        count_codes = self._codes(train)
        count_y = y
        if val is not train:
            count_codes = [
                None if c is None else torch.cat([c, v])
                for c, v in zip(count_codes, self._codes(val), strict=True)
            ]
            count_y = torch.cat([y, val.labels])
        prior = torch.as_tensor(self.prior_, dtype=torch.float64)
        self.classifiers_: dict[Source, MLPClassifier | CountClassifier] = {}
        self.densities_: dict[int, GaussianMixtureDensity | CountDensity] = {}
        heads: list[Head] = []
        stats = [c.feature_stats() for c in self.coders_]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for source in self._sources():
                if self._is_count_source(source):
                    codes, size = joint_codes(
                        [count_codes[i] for i in source],
                        [self.coders_[i].n_values for i in source],
                    )
                    self.classifiers_[source] = CountClassifier(
                        codes,
                        count_y,
                        n_values=size,
                        n_classes=self.n_classes_,
                        prior=prior,
                        smoothing=self.smoothing,
                    )
                    continue
                module = MLPClassifier(
                    in_dims=[self.coders_[i].dim for i in source],
                    n_classes=self.n_classes_,
                    hidden=self.hidden,
                    n_layers=self.n_layers,
                    means=[stats[i][0] for i in source],
                    stds=[stats[i][1] for i in source],
                ).to(device)
                self.classifiers_[source] = module
                name = f"p(y|{self._source_name(source)})"
                heads.append(Head(name, module, source, "classifier"))
            if self.measure == "lsmi":
                for m, coder in enumerate(self.coders_):
                    if coder.discrete:
                        self.densities_[m] = CountDensity(
                            count_codes[m],
                            n_values=coder.n_values,
                            smoothing=self.smoothing,
                        )
                        continue
                    pick = fit_rows[torch.randperm(fit_rows.numel(), generator=gen)]
                    pick = pick[: max(self.n_components, _GMM_INIT_SAMPLES)]
                    if pick.numel() < self.n_components:
                        pick = pick[torch.arange(self.n_components) % pick.numel()]
                    sample = coder.features(train.modalities[m][pick])
                    module = GaussianMixtureDensity(
                        dim=coder.dim,
                        n_components=self.n_components,
                        mean=coder.mean,
                        std=coder.std,
                        init_points=sample[: self.n_components],
                    ).to(device)
                    module.init_from_data(sample)
                    self.densities_[m] = module
                    heads.append(Head(f"p({self.modality_names_[m]})", module, (m,), "density"))
        self.history_ = {}
        self.temperatures_: dict[Source, float] = {}
        if not heads:
            return
        feats = self._features(train, device)
        rows = None if train_rows is None else train_rows.to(device)
        train_part = Rows(feats, y.to(device), rows)
        if val is train:
            val_part = Rows(feats, train_part.y, val_rows.to(device))
        else:
            val_part = Rows(self._features(val, device), val.labels.to(device))
        if len(val_part) > _MAX_VAL_SAMPLES:
            # Early stopping and calibration need a precise loss, not every sample.
            keep = torch.randperm(len(val_part), generator=gen)[:_MAX_VAL_SAMPLES].sort().values
            keep = keep.to(device)
            val_part = Rows(
                val_part.feats, val_part.y, keep if val_part.rows is None else val_part.rows[keep]
            )
        settings = TrainSettings(
            max_epochs=self.max_epochs,
            patience=self.patience,
            batch_size=self._batch_size(len(train_part)),
            lr=self.lr,
            weight_decay=self.weight_decay,
            progress=self.progress,
            desc=f"dmil estimate ({self.measure})",
        )
        self.history_ = train_heads(heads, train_part, val_part, settings, generator=gen)
        if self.calibrate:
            self._calibrate(val_part)

    @torch.no_grad()
    def _calibrate(self, val: Rows) -> None:
        for source, model in self.classifiers_.items():
            if not isinstance(model, MLPClassifier):
                continue
            logits, labels = [], []
            for start in range(0, len(val), self.chunk_size):
                feats, yb = val.take(slice(start, start + self.chunk_size))
                logits.append(model([feats[i] for i in source]).cpu())
                labels.append(yb.cpu())
            temperature = fit_temperature(torch.cat(logits), torch.cat(labels))
            model.log_temperature.fill_(float(np.log(temperature)))
            self.temperatures_[source] = temperature

    # --------------------------------------------------------------- transform
    def transform(self, data: MultimodalDataset) -> InteractionTable:
        """Per-sample interaction components of ``data``.

        Parameters
        ----------
        data : MultimodalDataset
            Same modalities (count, per-sample shapes, dtypes) and classes as in ``fit``.

        Returns
        -------
        InteractionTable
            One row per sample of ``data``; for ``M > 2`` with ``pairs`` filled in.
        """
        if not hasattr(self, "classifiers_"):
            raise NotFittedError(
                "this InteractionEstimator is not fitted yet; call fit(train) first."
            )
        data = check_dataset(data, "data")
        self._check_compatible(data, "data")
        device = check_device(self.device)
        with torch_threads(self._threads(device)):
            return self._table(data, None, device)

    def fit_transform(
        self, train: MultimodalDataset, val: MultimodalDataset | None = None
    ) -> InteractionTable:
        """``fit(train, val)`` then ``transform(train)``."""
        return self.fit(train, val).transform(train)

    @torch.no_grad()
    def _pointwise(
        self, data: MultimodalDataset, rows: torch.Tensor | None, device: torch.device
    ) -> tuple[dict[Source, np.ndarray], dict[int, np.ndarray], np.ndarray]:
        """Pointwise MI per source and pointwise entropy per modality, arrays of shape (N,)."""
        labels = data.labels if rows is None else data.labels[rows]
        counts = np.bincount(labels.numpy(), minlength=self.n_classes_)
        unseen = np.flatnonzero((counts > 0) & (self.prior_ == 0))
        if unseen.size:
            raise ValueError(
                f"data: class(es) {unseen.tolist()} never occur in the training data, so their "
                "pointwise MI log p(y|x) - log p(y) is undefined; refit with every class present."
            )
        log_prior = torch.from_numpy(np.log(np.where(self.prior_ > 0, self.prior_, 1.0)))
        codes = [None if c is None else (c if rows is None else c[rows]) for c in self._codes(data)]
        feats = self._features(data, device)
        n = labels.shape[0]
        out_i: dict[Source, list[torch.Tensor]] = {s: [] for s in self.classifiers_}
        out_h: dict[int, list[torch.Tensor]] = {m: [] for m in self.densities_}
        for start in range(0, n, self.chunk_size):
            pos = slice(start, start + self.chunk_size)
            sel = pos if rows is None else rows[pos].to(device)
            yb = labels[pos]
            part = [f[sel] if f.numel() else f for f in feats]
            for source, model in self.classifiers_.items():
                if isinstance(model, CountClassifier):
                    jc, _ = joint_codes(
                        [codes[i][pos] for i in source], [self.coders_[i].n_values for i in source]
                    )
                    logp = model.log_proba(jc)
                else:
                    logp = model.log_proba([part[i] for i in source]).double().cpu()
                out_i[source].append(logp.gather(1, yb[:, None]).squeeze(1) - log_prior[yb])
            for m, density in self.densities_.items():
                if isinstance(density, CountDensity):
                    out_h[m].append(-density.log_prob(codes[m][pos]))
                else:
                    out_h[m].append(-density.log_prob(part[m]).double().cpu())
        i_terms = {s: torch.cat(v).numpy() for s, v in out_i.items()}
        h_terms = {m: torch.cat(v).numpy() for m, v in out_h.items()}
        return i_terms, h_terms, labels.numpy()

    def _table(
        self, data: MultimodalDataset, rows: torch.Tensor | None, device: torch.device
    ) -> InteractionTable:
        i_terms, h_terms, labels = self._pointwise(data, rows, device)
        index = np.arange(labels.shape[0]) if rows is None else rows.numpy()
        truth = data.interaction_names()
        true_type = None if truth is None else np.asarray(truth)[index]
        pairs = {}
        for i, j in itertools.combinations(range(self.n_modalities_), 2):
            h = (h_terms[i], h_terms[j]) if self.measure == "lsmi" else (None, None)
            terms = decompose(
                self.measure,
                *(torch.from_numpy(i_terms[s]) for s in ((i,), (j,), (i, j))),
                *(None if v is None else torch.from_numpy(v) for v in h),
            )
            pairs[(i, j)] = InteractionTable(
                index=index,
                label=labels,
                **{k: v.numpy() for k, v in terms.items()},
                i1=i_terms[(i,)],
                i2=i_terms[(j,)],
                i12=i_terms[(i, j)],
                h1=h[0],
                h2=h[1],
                measure=self.measure,
                modality_names=(self.modality_names_[i], self.modality_names_[j]),
                true_type=true_type,
            )
        if self.n_modalities_ == 2:
            return pairs[(0, 1)]
        return combine_pairs(pairs, index, labels, true_type, self.measure, self.modality_names_)
