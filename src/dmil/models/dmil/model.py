"""DMIL: a variational decomposition of multimodal representations into redundant,
unique and synergistic components, with a per-sample gate over them.

Yang, Wei, Ni, Xu and Hu, "Information-Theoretic Decomposition for Multimodal Interaction
Learning", CVPR 2026. The model generalises the published two-modality design to
``M >= 2`` modalities; docs/dmil.md describes every part and every choice made where the
paper leaves one open.

For modality ``m`` with encoder output ``e_m``:

* ``Z_m = proj_m(e_m)``, width ``d``;
* intra-modality decomposition: ``M_m ~ q(M | Z_m)`` (task-relevant, with a head of its
  own) and ``N_m ~ q(N | Z_m)`` (the remainder), and ``[M_m, N_m]`` reconstructs ``Z_m``;
* consistency decomposition: ``R ~ q(R | mu(M_1), ..., mu(M_M))`` shared by all
  modalities, ``U_m ~ q(U | mu(M_m))``; each single-modality ``v(R | mu(M_m))`` is pulled
  towards the joint ``q(R | ...)`` by a KL term, and ``[R, U_m]`` reconstructs ``mu(M_m)``;
* synergy: ``S = f([P_1, ..., P_M, P_i * P_j for i < j])`` with ``P_m = [M_m, N_m]``
  (``synergy_input="remainder"``: ``P_m = N_m``, as published), an MLP (multi-layer by
  default) whose pairwise products make XOR-like interactions easy to separate;
* a linear head per component ``c`` in ``(R, U1, ..., UM, S)`` and a gate
  ``g = softmax(gate([R, U1, ..., UM, S]))`` per sample; the prediction is
  ``sum_c g_c * logits_c``.

Ablations (registered as methods): ``dmil-fc`` (every bottleneck a plain linear layer,
no KL terms), ``dmil-id`` (the intra-modality part only: components ``M1..MM`` and ``S``),
``dmil-cd`` (the consistency part only: ``M_m = Z_m``, components ``R, U1..UM``) and
``dmil-mean`` (the gate replaced by a uniform average).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.dmil.layers import (
    Gaussian,
    GroupedBottleneck,
    GroupedLinear,
    GroupedMLP,
    LinearCode,
    VariationalBottleneck,
    gaussian_kl,
    mlp,
    prior_kl,
    standard_normal_kl,
)
from dmil.models.paradigms.common import Paradigm
from dmil.models.paradigms.registry import register_method

__all__ = [
    "DMIL",
    "DMILCD",
    "DMILFC",
    "DMILID",
    "DMILMean",
    "LOSS_TERMS",
    "VARIANTS",
    "component_type",
]

#: Every loss term a DMIL model produces (``loss_terms``), unweighted.
LOSS_TERMS: tuple[str, ...] = (
    "ce",
    "ce_modality",
    "kl_id",
    "rec_id",
    "ce_components",
    "ce_synergy",
    "kl_cd",
    "align",
    "rec_cd",
    "gate_guide",
)

#: Variant -> (intra-modality part, consistency part, synergy, variational, gate).
VARIANTS: dict[str, tuple[bool, bool, bool, bool, bool]] = {
    "full": (True, True, True, True, True),
    "fc": (True, True, True, False, True),
    "id": (True, False, True, True, True),
    "cd": (False, True, False, True, True),
    "mean": (True, True, True, True, False),
}

#: Loss weights used when the model is trained without stages (the joint objective).
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "ce": 1.0,
    "ce_modality": 0.5,
    "ce_components": 0.8,
    "kl_id": 0.02,
    "rec_id": 0.003,
    "kl_cd": 0.008,
    "align": 0.008,
    "rec_cd": 0.001,
}

#: Encoders for which the stage preset for convolutional encoders is used.
_CONV_ENCODERS = frozenset({"cnn", "resnet18", "transformer"})

_GATE_INPUTS = ("sample", "mean")
_GATE_OVER = ("logits", "probs")
_SYNERGY_INPUTS = ("both", "remainder")
#: The consistency decomposition's own loss terms.
_CD_TERMS = frozenset({"kl_cd", "align", "rec_cd"})


@dataclass(frozen=True)
class _Parts:
    """What one forward pass computes (see :meth:`DMIL.forward`'s ``terms``)."""

    prediction: bool  # the gate and the gated prediction
    every_component: bool  # every component and its head
    synergy: bool  # S (with its head, when not every component is computed)
    consistency: bool  # R, U_m and their loss terms
    modality_heads: bool  # the heads on M_m


def component_type(component: str, types: Sequence[str]) -> str | None:
    """The interaction type a component stands for, among ``types``.

    ``R`` and ``S`` stand for themselves; ``U<k>`` for ``U<k>`` where the types name
    modalities (two modalities) and for ``U`` where they do not (the estimator's types
    for more than two modalities). Components without a type (``M<k>`` of ``dmil-id``)
    give ``None``.
    """
    if component in types:
        return component
    if component.startswith("U") and "U" in types:
        return "U"
    return None


def _stacked_cross_entropy(logits: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of each of ``K`` predictions ``(B, C)`` against one target,
    ``(K,)``, in one batched call."""
    k = len(logits)
    stacked = torch.stack(tuple(logits))  # (K, B, C)
    per_sample = F.cross_entropy(
        stacked.reshape(-1, stacked.shape[2]), target.repeat(k), reduction="none"
    )
    return per_sample.view(k, -1).mean(1)


def _named(names: Sequence[str], stacked: torch.Tensor | None) -> dict[str, torch.Tensor] | None:
    """``{name: stacked[k]}`` for per-component logits ``(K, B, C)``; ``None`` for none."""
    if stacked is None:
        return None
    return dict(zip(names, stacked.unbind(0), strict=True))


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"dmil {name}: expected a positive integer, found {value!r}.")
    return int(value)


@register_method("dmil")
class DMIL(Paradigm):
    """DMIL over one encoder per modality (any registered encoder or user module).

    Parameters
    ----------
    encoders : sequence of nn.Module
        One encoder per modality, ``(B, ...) -> (B, D_m)``.
    out_dims : sequence of int
        ``D_m`` per encoder.
    n_classes : int
        Number of classes ``C``.
    modality_names : sequence of str
        One name per modality.
    latent_dim : int, default 32
        Width ``d`` of every component.
    synergy_layers : int, default 2
        Depth of the synergy network (``1``: one linear layer, as in the published code).
    synergy_hidden : int, optional
        Hidden width of the synergy network (default ``2 d``).
    synergy_dropout : float, default 0.1
        Dropout probability before every linear layer of the synergy network (its input
        of modality codes and pairwise products included); ``0`` adds none, as in the
        published code. On by default because it won on validation data (docs/dmil.md).
    gate_hidden : int, optional
        Hidden width of the gate (default ``d``).
    rec_hidden : int, default 16
        Hidden width of the reconstruction networks.
    logvar_clamp : float or None, default 10.0
        Log-variance clamp of the bottlenecks (``None``: unclamped).
    logvar_init : float, default -4.0
        Initial log-variance bias of the bottlenecks (``0``: unit noise at the start, as
        with a default linear layer; ``-4`` starts with a standard deviation of 0.14).
    detach_rec_targets : bool, default False
        Stop gradients through reconstruction targets.
    gate_input : {"sample", "mean"}, default "sample"
        Whether the gate sees the sampled components (training) or their means.
    gate_over : {"logits", "probs"}, default "logits"
        Combine component logits (``sum_c g_c logits_c``) or probabilities
        (``log sum_c g_c softmax(logits_c)``).
    synergy_input : {"both", "remainder"}, default "both"
        What the synergy network combines per modality: ``[M_m, N_m]`` (``both``) or
        only the remainder ``N_m`` (``remainder``, as in the published code).
    gate_guidance : float, default 0.3
        Weight of the estimator-guided gate term ``gate_guide``: the cross-entropy
        between the gate and a per-sample target over the components, built from the
        interaction type :class:`~dmil.interactions.InteractionEstimator` (fitted on the
        training split) assigns to each training sample. ``0`` turns it off (the
        published, unsupervised gate). On by default because it won on validation data
        (docs/dmil.md). It acts in stages whose ``loss_weights`` name ``gate_guide``
        (``dmil-vectors`` and ``dmil-cnn`` do; ``dmil-paper``, as published, does not) and
        needs the targets passed to ``fit`` (``sample_targets``;
        ``dmil train`` computes them).
    """

    #: The ablation this class implements (see :data:`VARIANTS`).
    variant: ClassVar[str] = "full"
    #: Whether the prediction is a learned per-sample gate over the components (set
    #: from :data:`VARIANTS` for every subclass; see ``has_learned_gate``).
    learned_gate: ClassVar[bool] = VARIANTS["full"][4]
    #: The engine may feed encoder outputs instead of inputs (``forward(..., embedded=True)``).
    supports_embedded: ClassVar[bool] = True
    #: Every loss term name the model can produce.
    loss_term_names: ClassVar[tuple[str, ...]] = LOSS_TERMS
    #: ``forward(..., terms=...)`` computes only what the named loss terms need; the
    #: engine passes a stage's weighted terms in training steps (stage 1 of the shipped
    #: presets needs neither the consistency part nor the gate).
    supports_terms: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.variant not in VARIANTS:
            raise ValueError(
                f"{cls.__name__}.variant: expected one of {sorted(VARIANTS)}, "
                f"found {cls.variant!r}."
            )
        if "learned_gate" not in cls.__dict__:  # a subclass may set its own
            cls.learned_gate = VARIANTS[cls.variant][4]

    @property
    def has_gate(self) -> bool:
        """Whether this model gates its components (:attr:`learned_gate`)."""
        return self.learned_gate

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        latent_dim: int = 32,
        synergy_layers: int = 2,
        synergy_hidden: int | None = None,
        synergy_dropout: float = 0.1,
        gate_hidden: int | None = None,
        rec_hidden: int = 16,
        logvar_clamp: float | None = 10.0,
        logvar_init: float = -4.0,
        detach_rec_targets: bool = False,
        gate_input: str = "sample",
        gate_over: str = "logits",
        synergy_input: str = "both",
        gate_guidance: float = 0.3,
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        d = _positive_int(latent_dim, "latent_dim")
        _positive_int(synergy_layers, "synergy_layers")
        rec_hidden = _positive_int(rec_hidden, "rec_hidden")
        synergy_hidden = (
            2 * d if synergy_hidden is None else _positive_int(synergy_hidden, "synergy_hidden")
        )
        if (
            isinstance(synergy_dropout, bool)
            or not isinstance(synergy_dropout, (int, float))
            or not 0 <= synergy_dropout < 1
        ):
            raise ValueError(
                f"dmil synergy_dropout: expected a number in [0, 1), found {synergy_dropout!r}."
            )
        gate_hidden = d if gate_hidden is None else _positive_int(gate_hidden, "gate_hidden")
        if gate_input not in _GATE_INPUTS:
            raise ValueError(
                f"dmil gate_input: expected one of {list(_GATE_INPUTS)}, found {gate_input!r}."
            )
        if gate_over not in _GATE_OVER:
            raise ValueError(
                f"dmil gate_over: expected one of {list(_GATE_OVER)}, found {gate_over!r}."
            )
        if synergy_input not in _SYNERGY_INPUTS:
            raise ValueError(
                f"dmil synergy_input: expected one of {list(_SYNERGY_INPUTS)}, "
                f"found {synergy_input!r}."
            )
        if logvar_clamp is not None and not (
            isinstance(logvar_clamp, (int, float))
            and not isinstance(logvar_clamp, bool)
            and logvar_clamp > 0
        ):
            raise ValueError(
                f"dmil logvar_clamp: expected a positive number or None, found {logvar_clamp!r}."
            )
        if (
            isinstance(gate_guidance, bool)
            or not isinstance(gate_guidance, (int, float))
            or not gate_guidance >= 0
        ):
            raise ValueError(
                f"dmil gate_guidance: expected a number >= 0, found {gate_guidance!r}."
            )
        self.latent_dim = d
        self.gate_guidance = float(gate_guidance)
        self.gate_input = gate_input
        self.gate_over = gate_over
        self.synergy_input = synergy_input
        self.detach_rec_targets = bool(detach_rec_targets)
        has_id, has_cd, has_syn, variational, _ = VARIANTS[self.variant]
        self.has_id, self.has_cd, self.has_syn = has_id, has_cd, has_syn
        has_gate = self.has_gate
        code = VariationalBottleneck if variational else LinearCode
        kw = {"logvar_clamp": logvar_clamp, "logvar_init": float(logvar_init)}
        gkw = {"variational": variational, **kw}
        n = self.n_modalities
        c = self.n_classes

        # Every variant has the same top-level groups (some empty), so stage presets that
        # name them apply to all of them. Per-modality parts are grouped modules: one
        # batched product for all modalities, tensors shaped (M, B, ...).
        self.intra = nn.ModuleDict(
            {
                "proj": nn.ModuleList(nn.Linear(dim, d) for dim in self.out_dims),
                "heads": GroupedLinear(n, d, c),
            }
        )
        if has_id:
            # One bottleneck of width 2d per modality: its first half is M_m, its second N_m.
            self.intra["code"] = GroupedBottleneck(n, d, 2 * d, **gkw)
            self.intra["rec"] = GroupedMLP(n, 2 * d, rec_hidden, d)
        self.consistency = nn.ModuleDict()
        if has_cd:
            self.consistency["r"] = code(n * d, d, **kw)
            # First half U_m, second half the single-modality R posterior v(R | mu(M_m)).
            self.consistency["code"] = GroupedBottleneck(n, d, 2 * d, **gkw)
            self.consistency["rec"] = GroupedMLP(n, 2 * d, rec_hidden, d)
        self.synergy = nn.ModuleDict()
        if has_syn:
            n_pairs = n * (n - 1) // 2
            width = 2 * d if synergy_input == "both" else d
            self.synergy["net"] = mlp(
                (n + n_pairs) * width,
                synergy_hidden,
                d,
                layers=synergy_layers,
                dropout=float(synergy_dropout),
            )
            pairs = list(combinations(range(n), 2))
            self.register_buffer(
                "_pair_left",
                torch.tensor([i for i, _ in pairs], dtype=torch.long),
                persistent=False,
            )
            self.register_buffer(
                "_pair_right",
                torch.tensor([j for _, j in pairs], dtype=torch.long),
                persistent=False,
            )
        names = (
            (["R"] if has_cd else [])
            + [f"U{i + 1}" if has_cd else f"M{i + 1}" for i in range(n)]
            + (["S"] if has_syn else [])
        )
        #: Component names, in gate order.
        self.component_names: tuple[str, ...] = tuple(names)
        self.heads = nn.ModuleDict({name: nn.Linear(d, c) for name in names})
        self.gate = nn.ModuleDict()
        if has_gate:
            self.gate["net"] = mlp(len(names) * d, gate_hidden, len(names))

    @classmethod
    def default_stages(cls, encoder: Any = "mlp") -> tuple[Any, ...]:
        """The shipped three-stage preset for these encoders: ``dmil-cnn`` when any
        encoder is ``cnn``, ``resnet18`` or ``transformer``, else ``dmil-vectors``."""
        from dmil.training.stages import StageSpec, load_preset

        names = [encoder] if isinstance(encoder, (str, nn.Module)) else list(encoder)
        conv = any(isinstance(e, str) and e in _CONV_ENCODERS for e in names)
        stages = load_preset("dmil-cnn" if conv else "dmil-vectors")
        if VARIANTS[cls.variant][2]:
            return stages
        # Without a synergy component, stage 1 trains the encoders on the unimodal heads.
        first = stages[0].to_dict()
        first.update(
            train=["encoders", "intra"],
            loss_weights={"ce_modality": 1.0, "kl_id": 0.02, "rec_id": 0.01},
            monitor="modality_mean",
        )
        return (StageSpec.from_dict(first), *stages[1:])

    # ------------------------------------------------------------------ forward
    def _intra(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """``mu(M_m)`` and ``M_m`` ``(M, B, d)``, the joint ``[M_m, N_m]`` ``(M, B, 2d)``
        (``None`` without the intra-modality part) and the intra-modality loss terms
        (sums over modalities of per-modality means)."""
        if not self.has_id:
            return z, z, None, {}
        n, d = self.n_modalities, self.latent_dim
        code = self.intra["code"](z)  # (M, B, 2d): [M_m, N_m]
        rec = self.intra["rec"](code.value)
        target = z.detach() if self.detach_rec_targets else z
        terms = {
            # The mean over both halves is half the sum of the M and N means.
            "kl_id": 2 * n * prior_kl(code),
            "rec_id": n * F.mse_loss(rec, target),
        }
        return code.mean[..., :d], code.value[..., :d], code.value, terms

    def _consistency(
        self, m_mean: torch.Tensor
    ) -> tuple[Gaussian | None, torch.Tensor | None, torch.Tensor | None, dict[str, torch.Tensor]]:
        """``R`` ``(B, d)``, the ``U_m`` and their means ``(M, B, d)`` and the consistency
        loss terms."""
        if not self.has_cd:
            return None, None, None, {}
        n, d = self.n_modalities, self.latent_dim
        batch = m_mean.shape[1]
        r = self.consistency["r"](m_mean.transpose(0, 1).reshape(batch, -1))  # (B, d)
        code = self.consistency["code"](m_mean)  # (M, B, 2d): [U_m, v(R | mu(M_m))]
        u = code.value[..., :d]
        if code.logvar is not None:
            align = n * gaussian_kl(r.mean, r.logvar, code.mean[..., d:], code.logvar[..., d:])
            kl_u = standard_normal_kl(code.mean[..., :d], code.logvar[..., :d])
        else:  # plain linear codes: squared distance instead of a KL
            align = n * F.mse_loss(r.value.expand_as(u), code.value[..., d:])
            kl_u = u.new_zeros(())
        rec = self.consistency["rec"](torch.cat([r.value.expand_as(u), u], dim=2))
        target = m_mean.detach() if self.detach_rec_targets else m_mean
        terms = {
            "kl_cd": prior_kl(r) + n * kl_u,
            "align": align,
            "rec_cd": n * F.mse_loss(rec, target),
        }
        return r, u, code.mean[..., :d], terms

    def _synergy(self, joint: torch.Tensor | None) -> torch.Tensor | None:
        if not self.has_syn or joint is None:
            return None
        if self.synergy_input == "both":
            parts = joint  # (M, B, 2d)
        else:
            parts = joint[..., self.latent_dim :]  # N_m: (M, B, d)
        products = parts[self._pair_left] * parts[self._pair_right]  # (P, B, w)
        stacked = torch.cat([parts, products], dim=0)  # (M + P, B, w)
        return self.synergy["net"](stacked.transpose(0, 1).reshape(parts.shape[1], -1))

    def _stack_codes(
        self, r: torch.Tensor | None, per_modality: torch.Tensor, s: torch.Tensor | None
    ) -> torch.Tensor:
        """The components in gate order, ``(K, B, d)``."""
        parts = ([r.unsqueeze(0)] if r is not None else []) + [per_modality]
        parts += [s.unsqueeze(0)] if s is not None else []
        return torch.cat(parts, dim=0) if len(parts) > 1 else per_modality

    def _parts(self, terms: frozenset[str] | None) -> _Parts:
        """What a forward pass must compute to give ``terms`` (``None``: everything)."""
        if terms is None:
            return _Parts(True, True, self.has_syn, self.has_cd, True)
        prediction = bool(terms & {"ce", "gate_guide"})
        every_component = prediction or "ce_components" in terms
        return _Parts(
            prediction=prediction,
            every_component=every_component,
            synergy=self.has_syn and (every_component or "ce_synergy" in terms),
            consistency=self.has_cd and (every_component or bool(terms & _CD_TERMS)),
            modality_heads="ce_modality" in terms,
        )

    def forward(
        self,
        inputs: list[torch.Tensor],
        *,
        embedded: bool = False,
        terms: frozenset[str] | None = None,
    ) -> ModelOutput:
        """Run the model.

        Parameters
        ----------
        inputs : list of Tensor
            One batch ``(B, ...)`` per modality, or with ``embedded`` the encoders'
            outputs ``(B, D_m)``.
        embedded : bool
            ``inputs`` are encoder outputs (the engine caches them while encoders are
            frozen).
        terms : frozenset of str, optional
            The loss terms the caller will use (a training stage's weighted terms); only
            the parts they depend on are computed (see :attr:`supports_terms`). ``None``
            computes everything.

        Returns
        -------
        ModelOutput
            ``logits`` (B, C) the gated prediction; ``modality_logits`` the heads on
            ``M_m``; ``component_logits`` per component; ``gate`` (B, K) in
            :attr:`component_names` order; ``loss_terms`` the unweighted KL and
            reconstruction terms. With ``terms``, the parts those terms do not need are
            left out: ``logits`` and ``gate`` are ``None`` without ``ce`` or
            ``gate_guide``, ``modality_logits`` without ``ce_modality``, and
            ``component_logits`` holds only ``S`` when ``ce_synergy`` is the only
            component term.
        """
        parts = self._parts(terms)
        if embedded:
            self.check_inputs(inputs)
            embeddings = list(inputs)
        else:
            embeddings = self.encode(inputs)  # M x (B, D_m)
        z = torch.stack(
            [p(e) for p, e in zip(self.intra["proj"], embeddings, strict=True)]
        )  # (M, B, d)
        m_mean, m_value, joint, terms_out = self._intra(z)
        modality_logits = (
            tuple(self.intra["heads"](m_value).unbind(0)) if parts.modality_heads else None
        )
        r = u = u_mean = None
        if parts.consistency:
            r, u, u_mean, cd_terms = self._consistency(m_mean)
            terms_out.update(cd_terms)
        s = self._synergy(joint) if parts.synergy else None
        codes: torch.Tensor | None = None
        names: tuple[str, ...] = ()
        if parts.every_component:
            codes = self._stack_codes(
                r.value if r is not None else None, u if u is not None else m_value, s
            )  # (K, B, d)
            names = self.component_names
        elif s is not None:  # the synergy head alone
            codes, names = s.unsqueeze(0), ("S",)
        per_component = self._head_logits(codes, names) if codes is not None else None
        if per_component is None or not parts.prediction:
            return ModelOutput(
                logits=None,
                modality_logits=modality_logits,
                component_logits=_named(names, per_component),
                loss_terms=terms_out,
            )
        batch = codes.shape[1]
        if self.has_gate:
            if self.gate_input == "sample":
                gate_codes = codes
            else:
                gate_codes = self._stack_codes(
                    r.mean if r is not None else None, m_mean if u_mean is None else u_mean, s
                )
            gate_in = gate_codes.transpose(0, 1).reshape(batch, -1)  # (B, K * d)
            gate = F.softmax(self.gate["net"](gate_in), dim=1)  # (B, K)
        else:
            k = codes.shape[0]
            gate = codes.new_full((batch, k), 1.0 / k)
        stacked = per_component.transpose(0, 1)  # (B, K, C)
        if self.gate_over == "logits":
            logits = torch.bmm(gate.unsqueeze(1), stacked).squeeze(1)  # (B, C)
        else:
            probs = torch.bmm(gate.unsqueeze(1), F.softmax(stacked, dim=2)).squeeze(1)
            logits = probs.clamp_min(1e-12).log()
        return ModelOutput(
            logits=logits,
            modality_logits=modality_logits,
            # Split only after the gate has used the stacked logits: the order in which
            # the backward sums their gradients follows it, and a fixed order keeps runs
            # reproducible bit for bit.
            component_logits=_named(names, per_component),
            gate=gate,
            loss_terms=terms_out,
        )

    def _head_logits(self, codes: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """The named component heads on their codes ``(K, B, d)`` in one batched
        product (the heads stay separate modules), ``(K, B, C)``."""
        heads = [self.heads[name] for name in names]
        weight = torch.stack([h.weight for h in heads]).transpose(1, 2)  # (K, d, C)
        bias = torch.stack([h.bias for h in heads]).unsqueeze(1)  # (K, 1, C)
        return torch.baddbmm(bias, codes, weight)

    # ------------------------------------------------------------------ gate guidance
    @property
    def sample_target_names(self) -> tuple[str, ...]:
        """Per-sample training targets the model asks for (``gate_target`` when
        ``gate_guidance > 0``)."""
        return ("gate_target",) if self.gate_guidance > 0 and self.has_gate else ()

    def gate_targets(self, types: Sequence[str]) -> torch.Tensor:
        """Gate targets ``(N, K)`` from per-sample interaction types.

        A type that a component stands for (``R``, ``U1``, ``S``; ``U`` for every
        ``U_m`` with more than two modalities) puts all weight on that component (spread
        evenly over several); any other type gives the uniform distribution.
        """
        k = len(self.component_names)
        out = torch.full((len(types), k), 1.0 / k)
        known = sorted(set(map(str, types)))
        for row, kind in enumerate(map(str, types)):
            hits = [
                i for i, c in enumerate(self.component_names) if component_type(c, known) == kind
            ]
            if hits:
                out[row] = 0.0
                out[row, hits] = 1.0 / len(hits)
        return out

    # ------------------------------------------------------------------ losses
    def loss_terms(
        self, output: ModelOutput, target: torch.Tensor, **sample_targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Every term of :data:`LOSS_TERMS` this variant produces and ``output`` holds the
        parts for (a forward given ``terms`` leaves out the rest), unweighted (the gate
        guidance already carries its ``gate_guidance`` weight)."""
        terms = {}
        if output.logits is not None:
            terms["ce"] = F.cross_entropy(output.logits, target)
        gate_target = sample_targets.get("gate_target")
        if gate_target is not None and self.gate_guidance > 0 and output.gate is not None:
            log_gate = output.gate.clamp_min(1e-8).log()
            terms["gate_guide"] = self.gate_guidance * -(gate_target * log_gate).sum(1).mean()
        if output.modality_logits:
            terms["ce_modality"] = _stacked_cross_entropy(output.modality_logits, target).sum()
        if output.component_logits:
            per_component = _stacked_cross_entropy(tuple(output.component_logits.values()), target)
            if len(output.component_logits) == len(self.component_names):
                terms["ce_components"] = per_component.sum()
            if "S" in output.component_logits:
                terms["ce_synergy"] = per_component[list(output.component_logits).index("S")]
        terms.update(output.loss_terms)
        terms.update(output.aux_losses)
        return terms

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """The joint objective with :data:`DEFAULT_LOSS_WEIGHTS` (used when the model is
        trained without stages)."""
        terms = self.loss_terms(output, target)
        return sum(w * terms[k] for k, w in DEFAULT_LOSS_WEIGHTS.items() if k in terms)


@register_method("dmil-fc")
class DMILFC(DMIL):
    """``dmil-fc``: every variational bottleneck replaced by a plain linear layer (no KL;
    the alignment becomes a squared distance between the joint and single-modality codes)."""

    variant = "fc"


@register_method("dmil-id")
class DMILID(DMIL):
    """``dmil-id``: the intra-modality decomposition only; components ``M1..MM`` and the
    synergy ``S``, gated."""

    variant = "id"


@register_method("dmil-cd")
class DMILCD(DMIL):
    """``dmil-cd``: the consistency decomposition only (``M_m = Z_m``, no ``N_m`` and no
    synergy); components ``R, U1..UM``, gated."""

    variant = "cd"


@register_method("dmil-mean")
class DMILMean(DMIL):
    """``dmil-mean``: the full decomposition with the gate replaced by a uniform average
    of the component logits."""

    variant = "mean"
