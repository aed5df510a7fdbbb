"""DMIL's partial forward: ``forward(..., terms=...)`` computes only what the named loss
terms need, with the same values as the whole forward pass."""

from __future__ import annotations

import pytest
import torch

from dmil.models import build_model, default_stages
from dmil.training.epoch import forward_options, stage_loss
from dmil.training.stages import plan_stage

VARIANTS = ["dmil", "dmil-fc", "dmil-id", "dmil-cd", "dmil-mean"]


def _model(method: str, n_modalities: int = 3):
    torch.manual_seed(0)
    return build_model(method, input_shapes=[(8,)] * n_modalities, n_classes=4)


def _batch(n_modalities: int = 3):
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(16, 8, generator=gen) for _ in range(n_modalities)]
    return inputs, torch.randint(0, 4, (16,), generator=gen)


@pytest.mark.parametrize("method", VARIANTS)
@pytest.mark.parametrize("stage_index", [0, 1, 2])
def test_stage_terms_match_the_whole_forward(method: str, stage_index: int) -> None:
    """In each shipped stage, the partial forward gives every weighted term the whole
    forward gives, bit for bit, and the same loss and gradients."""
    model = _model(method)
    stage = default_stages(method, "mlp")[stage_index]
    plan = plan_stage(model, stage)
    plan.apply(model)
    plan.set_modes(model, training=True)
    inputs, target = _batch()
    k = len(model.component_names)
    extras = {"gate_target": torch.full((16, k), 1.0 / k)} if model.sample_target_names else {}
    options = forward_options(model, stage, embedded=False)
    assert options["terms"] == {n for n, w in stage.loss_weights.items() if w != 0}
    results = []
    for kwargs in ({}, options):
        torch.manual_seed(3)
        out = model(inputs, **kwargs)
        terms = model.loss_terms(out, target, **extras)
        model.zero_grad(set_to_none=True)
        loss = stage_loss(model, out, target, stage, extras)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((terms, loss.detach(), grads))
    (full, full_loss, full_grads), (part, part_loss, part_grads) = results
    for name in options["terms"] & set(full):
        assert torch.equal(full[name], part[name]), name
    assert torch.equal(full_loss, part_loss)
    assert full_grads.keys() == part_grads.keys()
    assert all(torch.equal(full_grads[n], part_grads[n]) for n in full_grads)


def test_synergy_only_terms_skip_the_gate_and_the_consistency_part() -> None:
    model = _model("dmil")
    model.train()
    inputs, target = _batch()
    out = model(inputs, terms=frozenset({"ce_synergy", "kl_id", "rec_id"}))
    assert out.logits is None and out.gate is None and out.modality_logits is None
    assert list(out.component_logits) == ["S"]
    terms = model.loss_terms(out, target)
    assert set(terms) == {"ce_synergy", "kl_id", "rec_id"}  # no partial ce_components
    assert not {"kl_cd", "align", "rec_cd"} & set(out.loss_terms)


def test_no_terms_computes_everything() -> None:
    model = _model("dmil", n_modalities=2)
    model.eval()
    inputs, _ = _batch(2)
    out = model(inputs)
    assert out.logits is not None and out.gate is not None
    assert list(out.component_logits) == list(model.component_names)
    assert len(out.modality_logits) == 2
