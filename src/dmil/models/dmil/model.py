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
* synergy: ``S = f([N_1, ..., N_M, N_i * N_j for i < j])``, an MLP (multi-layer by
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
from itertools import combinations
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.dmil.layers import (
    Gaussian,
    LinearCode,
    VariationalBottleneck,
    gaussian_kl,
    mlp,
    prior_kl,
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
    """

    #: The ablation this class implements (see :data:`VARIANTS`).
    variant: ClassVar[str] = "full"
    #: The engine may feed encoder outputs instead of inputs (``forward(..., embedded=True)``).
    supports_embedded: ClassVar[bool] = True
    #: Every loss term name the model can produce.
    loss_term_names: ClassVar[tuple[str, ...]] = LOSS_TERMS

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
        gate_hidden: int | None = None,
        rec_hidden: int = 16,
        logvar_clamp: float | None = 10.0,
        logvar_init: float = -4.0,
        detach_rec_targets: bool = False,
        gate_input: str = "sample",
        gate_over: str = "logits",
        synergy_input: str = "both",
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        d = _positive_int(latent_dim, "latent_dim")
        _positive_int(synergy_layers, "synergy_layers")
        rec_hidden = _positive_int(rec_hidden, "rec_hidden")
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
            isinstance(logvar_clamp, (int, float)) and logvar_clamp > 0
        ):
            raise ValueError(
                f"dmil logvar_clamp: expected a positive number or None, found {logvar_clamp!r}."
            )
        self.latent_dim = d
        self.gate_input = gate_input
        self.gate_over = gate_over
        self.synergy_input = synergy_input
        self.detach_rec_targets = bool(detach_rec_targets)
        has_id, has_cd, has_syn, variational, has_gate = VARIANTS[self.variant]
        self.has_id, self.has_cd, self.has_syn = has_id, has_cd, has_syn
        self.has_gate = has_gate
        code = VariationalBottleneck if variational else LinearCode
        kw = {"logvar_clamp": logvar_clamp, "logvar_init": float(logvar_init)}
        n = self.n_modalities
        c = self.n_classes

        # Every variant has the same top-level groups (some empty), so stage presets that
        # name them apply to all of them.
        self.intra = nn.ModuleDict(
            {
                "proj": nn.ModuleList(nn.Linear(dim, d) for dim in self.out_dims),
                "heads": nn.ModuleList(nn.Linear(d, c) for _ in range(n)),
            }
        )
        if has_id:
            self.intra["m"] = nn.ModuleList(code(d, d, **kw) for _ in range(n))
            self.intra["n"] = nn.ModuleList(code(d, d, **kw) for _ in range(n))
            self.intra["rec"] = nn.ModuleList(mlp(2 * d, rec_hidden, d) for _ in range(n))
        self.consistency = nn.ModuleDict()
        if has_cd:
            self.consistency["r"] = code(n * d, d, **kw)
            self.consistency["v"] = nn.ModuleList(code(d, d, **kw) for _ in range(n))
            self.consistency["u"] = nn.ModuleList(code(d, d, **kw) for _ in range(n))
            self.consistency["rec"] = nn.ModuleList(mlp(2 * d, rec_hidden, d) for _ in range(n))
        self.synergy = nn.ModuleDict()
        if has_syn:
            n_pairs = n * (n - 1) // 2
            width = 2 * d if synergy_input == "both" else d
            self.synergy["net"] = mlp(
                (n + n_pairs) * width, synergy_hidden or 2 * d, d, layers=synergy_layers
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
            self.gate["net"] = mlp(len(names) * d, gate_hidden or d, len(names))

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
        self, z: list[torch.Tensor]
    ) -> tuple[list[Gaussian], list[Gaussian] | None, dict[str, torch.Tensor]]:
        """``M_m`` and ``N_m`` codes and the intra-modality loss terms."""
        if not self.has_id:
            return [Gaussian(mean=zm, logvar=None, value=zm) for zm in z], None, {}
        m_codes = [b(zm) for b, zm in zip(self.intra["m"], z, strict=True)]
        n_codes = [b(zm) for b, zm in zip(self.intra["n"], z, strict=True)]
        kl = sum(prior_kl(mc) + prior_kl(nc) for mc, nc in zip(m_codes, n_codes, strict=True))
        rec = sum(
            F.mse_loss(
                net(torch.cat([mc.value, nc.value], dim=1)),
                zm.detach() if self.detach_rec_targets else zm,
            )
            for net, mc, nc, zm in zip(self.intra["rec"], m_codes, n_codes, z, strict=True)
        )
        return m_codes, n_codes, {"kl_id": kl, "rec_id": rec}

    def _consistency(
        self, m_codes: list[Gaussian]
    ) -> tuple[Gaussian | None, list[Gaussian], dict[str, torch.Tensor]]:
        """``R``, the ``U_m`` and the consistency loss terms."""
        if not self.has_cd:
            return None, [], {}
        means = [mc.mean for mc in m_codes]  # M x (B, d)
        r = self.consistency["r"](torch.cat(means, dim=1))
        u = [b(mm) for b, mm in zip(self.consistency["u"], means, strict=True)]
        v = [b(mm) for b, mm in zip(self.consistency["v"], means, strict=True)]
        if r.logvar is not None:
            align = sum(gaussian_kl(r.mean, r.logvar, vm.mean, vm.logvar) for vm in v)
        else:  # plain linear codes: squared distance instead of a KL
            align = sum(F.mse_loss(r.value, vm.value) for vm in v)
        kl = prior_kl(r) + sum(prior_kl(um) for um in u)
        rec = sum(
            F.mse_loss(
                net(torch.cat([r.value, um.value], dim=1)),
                mm.detach() if self.detach_rec_targets else mm,
            )
            for net, um, mm in zip(self.consistency["rec"], u, means, strict=True)
        )
        return r, u, {"kl_cd": kl, "align": align, "rec_cd": rec}

    def _synergy(self, m_codes: list[Gaussian], n_codes: list[Gaussian] | None) -> Gaussian | None:
        if not self.has_syn or n_codes is None:
            return None
        if self.synergy_input == "both":
            parts = [
                torch.cat([mc.value, nc.value], dim=1)
                for mc, nc in zip(m_codes, n_codes, strict=True)
            ]
        else:
            parts = [nc.value for nc in n_codes]
        parts += [a * b for a, b in combinations(parts, 2)]  # pairwise products
        s = self.synergy["net"](torch.cat(parts, dim=1))
        return Gaussian(mean=s, logvar=None, value=s)

    def forward(self, inputs: list[torch.Tensor], *, embedded: bool = False) -> ModelOutput:
        """Run the model.

        Parameters
        ----------
        inputs : list of Tensor
            One batch ``(B, ...)`` per modality, or with ``embedded`` the encoders'
            outputs ``(B, D_m)``.
        embedded : bool
            ``inputs`` are encoder outputs (the engine caches them while encoders are
            frozen).

        Returns
        -------
        ModelOutput
            ``logits`` (B, C) the gated prediction; ``modality_logits`` the heads on
            ``M_m``; ``component_logits`` per component; ``gate`` (B, K) in
            :attr:`component_names` order; ``loss_terms`` the unweighted KL and
            reconstruction terms.
        """
        if embedded:
            self.check_inputs(inputs)
            embeddings = list(inputs)
        else:
            embeddings = self.encode(inputs)  # M x (B, D_m)
        z = [p(e) for p, e in zip(self.intra["proj"], embeddings, strict=True)]  # M x (B, d)
        m_codes, n_codes, terms = self._intra(z)
        modality_logits = tuple(
            h(mc.value) for h, mc in zip(self.intra["heads"], m_codes, strict=True)
        )
        r, u, cd_terms = self._consistency(m_codes)
        terms.update(cd_terms)
        s = self._synergy(m_codes, n_codes)
        codes = ([r] if r is not None else []) + (u if self.has_cd else m_codes)
        codes += [s] if s is not None else []
        component_logits = {
            name: self.heads[name](code.value)
            for name, code in zip(self.component_names, codes, strict=True)
        }
        stacked = torch.stack(list(component_logits.values()), dim=1)  # (B, K, C)
        if self.has_gate:
            gate_in = [code.value if self.gate_input == "sample" else code.mean for code in codes]
            gate = F.softmax(self.gate["net"](torch.cat(gate_in, dim=1)), dim=1)  # (B, K)
        else:
            k = len(codes)
            gate = stacked.new_full((stacked.shape[0], k), 1.0 / k)
        if self.gate_over == "logits":
            logits = (gate.unsqueeze(2) * stacked).sum(dim=1)  # (B, C)
        else:
            probs = (gate.unsqueeze(2) * F.softmax(stacked, dim=2)).sum(dim=1)
            logits = probs.clamp_min(1e-12).log()
        return ModelOutput(
            logits=logits,
            modality_logits=modality_logits,
            component_logits=component_logits,
            gate=gate,
            loss_terms=terms,
        )

    # ------------------------------------------------------------------ losses
    def loss_terms(self, output: ModelOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every term of :data:`LOSS_TERMS` this variant produces, unweighted."""
        terms = {"ce": F.cross_entropy(output.logits, target)}
        if output.modality_logits:
            terms["ce_modality"] = sum(F.cross_entropy(m, target) for m in output.modality_logits)
        if output.component_logits:
            terms["ce_components"] = sum(
                F.cross_entropy(v, target) for v in output.component_logits.values()
            )
            if "S" in output.component_logits:
                terms["ce_synergy"] = F.cross_entropy(output.component_logits["S"], target)
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
