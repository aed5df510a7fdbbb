"""Paradigms: training on tiny synthetic tasks, output contract, gradient behaviour,
OGM-GE modulation and build_model's checks."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dmil.models import ModelOutput, MultimodalModel, available_methods, build_model
from dmil.models.paradigms import I2M2Model, OGMGEModel, ogm_coefficients

SMALL = {"embed_dim": 16, "encoder_kwargs": {"hidden_dims": (32,)}}


pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian_task(n: int, *, n_modalities: int, seed: int, n_classes: int = 3, dim: int = 8):
    """Each modality: class mean (fixed per modality) plus unit Gaussian noise."""
    gen = torch.Generator().manual_seed(seed)
    means = [
        torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(100 + m))
        for m in range(n_modalities)
    ]
    y = torch.randint(0, n_classes, (n,), generator=gen)
    xs = [means[m][y] + torch.randn(n, dim, generator=gen) for m in range(n_modalities)]
    return xs, y


def xor_task(n: int, *, seed: int):
    """One bit per modality (two noisy features each); the label is their XOR."""
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (2, n), generator=gen)
    xs = [
        torch.stack([b.float(), 1 - b.float()], dim=1) * 2
        - 1
        + 0.3 * torch.randn(n, 2, generator=gen)
        for b in bits
    ]
    return xs, bits[0] ^ bits[1]


def train(model: MultimodalModel, xs, y, *, steps: int, lr: float = 1e-2) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        output = model(xs)
        model.loss(output, y).backward()
        model.on_after_backward(output, y)
        optimiser.step()


def accuracy(model: MultimodalModel, xs, y) -> tuple[float, list[float]]:
    model.eval()
    with torch.no_grad():
        out = model(xs)
    fused = (out.logits.argmax(1) == y).float().mean().item()
    return fused, [(u.argmax(1) == y).float().mean().item() for u in out.modality_logits]


METHOD_CASES = [pytest.param(m, {}, id=m) for m in available_methods()] + [
    pytest.param("joint", {"fusion_hidden": 32}, id="joint-mlp-head"),
    pytest.param("i2m2", {"share_encoders": True, "fusion_hidden": 32}, id="i2m2-shared"),
]


def test_available_methods_are_the_five_paradigms():
    assert {"ensemble", "joint", "mlb", "i2m2", "ogm-ge"} <= set(available_methods())


@pytest.mark.parametrize(("method", "kwargs"), METHOD_CASES)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_paradigm_trains_and_beats_chance(method, kwargs, n_modalities):
    xs, y = gaussian_task(300, n_modalities=n_modalities, seed=0)
    test_xs, test_y = gaussian_task(600, n_modalities=n_modalities, seed=1)
    torch.manual_seed(0)
    model = build_model(method, input_shapes=[(8,)] * n_modalities, n_classes=3, **SMALL, **kwargs)
    before, _ = accuracy(model, test_xs, test_y)
    train(model, xs, y, steps=150)
    fused, unimodal = accuracy(model, test_xs, test_y)
    # Chance is 1/3; each modality alone reaches about 0.8-0.9 on this task.
    assert fused > 0.8, (fused, before)
    assert fused > before + 0.2
    assert all(acc > 0.5 for acc in unimodal), unimodal


@pytest.mark.parametrize(("method", "kwargs"), METHOD_CASES)
def test_output_fields_and_every_parameter_gets_a_gradient(method, kwargs):
    shapes = [(6,), (4, 5), (2, 3)]
    torch.manual_seed(0)
    model = build_model(method, input_shapes=shapes, n_classes=4, **SMALL, **kwargs)
    assert isinstance(model, MultimodalModel)
    assert model.n_modalities == 3 and model.n_classes == 4
    xs = [torch.randn(5, *s) for s in shapes]
    y = torch.tensor([0, 1, 2, 3, 0])
    out = model(xs)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (5, 4)
    assert out.modality_logits is not None and len(out.modality_logits) == 3
    assert all(u.shape == (5, 4) for u in out.modality_logits)
    loss = model.loss(out, y)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    model.on_after_backward(out, y)
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters without gradient (DDP would fail): {unused}"


def test_forward_checks_the_number_of_inputs():
    model = build_model("joint", input_shapes=[(3,), (3,)], n_classes=2, modality_names=["a", "b"])
    with pytest.raises(ValueError, match="2 modality tensors"):
        model([torch.randn(2, 3)])
    with pytest.raises(ValueError, match="modality 'b'.*batch size"):
        model([torch.randn(2, 3), torch.randn(3, 3)])


def test_ensemble_branches_get_gradient_only_from_their_own_loss():
    torch.manual_seed(0)
    model = build_model("ensemble", input_shapes=[(4,), (5,)], n_classes=3, **SMALL)
    xs = [torch.randn(6, 4), torch.randn(6, 5)]
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(xs)
    branch = [
        list(model.encoders[m].parameters()) + list(model.heads[m].parameters()) for m in (0, 1)
    ]
    own = [F.cross_entropy(out.modality_logits[m], y) for m in (0, 1)]
    # The first modality's loss leaves the second branch untouched ...
    cross = torch.autograd.grad(own[0], branch[1], allow_unused=True, retain_graph=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in cross)
    # ... so the summed loss gives each branch exactly its own gradient (separate training).
    total = torch.autograd.grad(model.loss(out, y), branch[0] + branch[1], retain_graph=True)
    alone = torch.autograd.grad(own[0], branch[0], retain_graph=True) + torch.autograd.grad(
        own[1], branch[1], retain_graph=True
    )
    for g_total, g_alone in zip(total, alone, strict=True):
        torch.testing.assert_close(g_total, g_alone)
    expected = torch.stack([F.log_softmax(u, 1) for u in out.modality_logits]).mean(0)
    torch.testing.assert_close(out.logits, expected)


def test_joint_modality_blocks_sum_to_logits():
    torch.manual_seed(0)
    model = build_model("joint", input_shapes=[(4,), (5,), (3,)], n_classes=3, **SMALL)
    xs = [torch.randn(7, 4), torch.randn(7, 5), torch.randn(7, 3)]
    out = model(xs)
    torch.testing.assert_close(sum(out.modality_logits), out.logits)
    z = model.encode(xs)
    w, b = model.head.weight, model.head.bias
    torch.testing.assert_close(out.modality_logits[1], z[1] @ w[:, 16:32].T + b / 3)


def test_mlb_probes_do_not_change_the_fusion_gradients():
    torch.manual_seed(0)
    model = build_model("mlb", input_shapes=[(4,), (5,)], n_classes=3, joint_dim=8, **SMALL)
    xs = [torch.randn(6, 4), torch.randn(6, 5)]
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(xs)
    fusion = [p for n, p in model.named_parameters() if not n.startswith("probes")]
    with_probes = torch.autograd.grad(model.loss(out, y), fusion, retain_graph=True)
    without = torch.autograd.grad(F.cross_entropy(out.logits, y), fusion, retain_graph=True)
    for a, b in zip(with_probes, without, strict=True):
        torch.testing.assert_close(a, b)
    # The fused logits really are P (tanh(U1 z1) * tanh(U2 z2)) + b.
    z = model.encode(xs)
    h = torch.tanh(model.projections[0](z[0])) * torch.tanh(model.projections[1](z[1]))
    torch.testing.assert_close(out.logits, model.classifier(h))


def test_i2m2_combines_log_probabilities_and_uses_separate_experts():
    torch.manual_seed(0)
    model = build_model("i2m2", input_shapes=[(4,), (5,)], n_classes=3, **SMALL)
    assert isinstance(model, I2M2Model) and model.joint_encoders is not None
    joint = build_model("joint", input_shapes=[(4,), (5,)], n_classes=3, **SMALL)
    shared = build_model(
        "i2m2", input_shapes=[(4,), (5,)], n_classes=3, share_encoders=True, **SMALL
    )
    n_params = [sum(p.numel() for p in m.parameters()) for m in (model, joint, shared)]
    encoder_params = sum(p.numel() for p in joint.encoders.parameters())
    assert n_params[0] == n_params[2] + encoder_params
    xs = [torch.randn(6, 4), torch.randn(6, 5)]
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(xs)
    expected = F.log_softmax(out.component_logits["joint"], 1) + sum(
        F.log_softmax(u, 1) for u in out.modality_logits
    )
    torch.testing.assert_close(out.logits, expected)
    torch.testing.assert_close(model.loss(out, y), F.cross_entropy(expected, y))


def test_ogm_coefficients_match_hand_computed_values():
    k = ogm_coefficients(torch.tensor([6.0, 3.0]), alpha=0.1)
    torch.testing.assert_close(k, torch.tensor([1 - math.tanh(0.1 * 2.0), 1.0]))
    k = ogm_coefficients(torch.tensor([4.0, 2.0, 2.0]), alpha=0.5)
    torch.testing.assert_close(k, torch.tensor([1 - math.tanh(0.5 * 2.0), 1.0, 1.0]))
    torch.testing.assert_close(ogm_coefficients(torch.tensor([2.0, 2.0]), alpha=0.1), torch.ones(2))


def _joint_and_ogm(**ogm_kwargs):
    shapes = [(4,), (5,)]
    torch.manual_seed(0)
    joint = build_model("joint", input_shapes=shapes, n_classes=3, **SMALL)
    torch.manual_seed(0)
    ogm = build_model("ogm-ge", input_shapes=shapes, n_classes=3, **SMALL, **ogm_kwargs)
    xs, y = gaussian_task(64, n_modalities=2, seed=3)
    xs = [xs[0][:, :4] * 3.0, xs[1][:, :5] * 0.1]  # modality 0 far more informative
    return joint, ogm, xs, y


def _gradients(model, xs, y):
    model.zero_grad()
    out = model(xs)
    model.loss(out, y).backward()
    model.on_after_backward(out, y)
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_ogm_scales_the_dominant_encoder_gradients():
    joint, ogm, xs, y = _joint_and_ogm(noise=False, alpha=0.5)
    train(joint, xs, y, steps=0)
    ogm.load_state_dict({**joint.state_dict(), "modulation_step": torch.tensor(0)})
    plain = _gradients(joint, xs, y)
    modulated = _gradients(ogm, xs, y)
    k = ogm.last_coefficients
    assert k is not None and k.shape == (2,)
    dominant = int(torch.argmin(k))
    assert k[dominant] < 1 and k[1 - dominant] == 1
    for name, grad in plain.items():
        if name.startswith(f"encoders.{dominant}."):
            torch.testing.assert_close(modulated[name], grad * k[dominant])
            if torch.count_nonzero(grad):
                assert not torch.allclose(modulated[name], grad)
        else:
            torch.testing.assert_close(modulated[name], grad)


def test_ogm_noise_is_seeded_and_changes_gradients():
    joint, ogm, xs, y = _joint_and_ogm(noise=True)
    torch.manual_seed(0)
    twin = build_model("ogm-ge", input_shapes=[(4,), (5,)], n_classes=3, **SMALL)
    twin.load_state_dict(ogm.state_dict())
    plain = _gradients(joint, xs, y)
    first, second = _gradients(ogm, xs, y), _gradients(twin, xs, y)
    k = ogm.last_coefficients
    for name, grad in plain.items():
        torch.testing.assert_close(first[name], second[name])  # same seed and step
        if name.startswith("encoders.") and grad.numel() > 1 and torch.count_nonzero(grad):
            scale = k[int(name.split(".")[1])]
            assert not torch.allclose(first[name], grad * scale)  # noise was added
        if name.startswith("head."):
            torch.testing.assert_close(first[name], grad)
    assert int(ogm.modulation_step) == 1 and "modulation_step" in ogm.state_dict()
    again = _gradients(ogm, xs, y)  # the next step draws different noise
    assert not torch.allclose(again["encoders.0.net.1.weight"], first["encoders.0.net.1.weight"])


def test_synergy_needs_a_non_additive_fusion():
    xs, y = xor_task(400, seed=0)
    test_xs, test_y = xor_task(1000, seed=1)
    results = {}
    for label, method, kwargs in [
        ("ensemble", "ensemble", {}),
        ("joint", "joint", {}),
        ("mlb", "mlb", {}),
        ("joint-mlp-head", "joint", {"fusion_hidden": 32}),
    ]:
        torch.manual_seed(0)
        model = build_model(method, input_shapes=[(2,), (2,)], n_classes=2, **SMALL, **kwargs)
        train(model, xs, y, steps=300)
        results[label] = accuracy(model, test_xs, test_y)[0]
    # Logits additive across modalities get at most 3 of the 4 XOR cells right.
    assert results["ensemble"] < 0.8 and results["joint"] < 0.8, results
    assert results["mlb"] > 0.9 and results["joint-mlp-head"] > 0.9, results


def test_build_model_with_user_modules():
    user = [nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU()), nn.Linear(5, 9)]
    model = build_model("i2m2", input_shapes=[(3, 4), (5,)], n_classes=3, encoder=user)
    assert model.out_dims == (7, 9)
    assert model.encoders[0] is user[0]
    own = {id(p) for p in model.encoders.parameters()}
    assert not own & {id(p) for p in model.joint_encoders.parameters()}
    out = model([torch.randn(4, 3, 4), torch.randn(4, 5)])
    assert out.logits.shape == (4, 3)
    mixed = build_model(
        "joint", input_shapes=[(3, 4), (6,)], n_classes=2, encoder=[user[0], "mlp"], embed_dim=5
    )
    assert mixed.out_dims == (7, 5)
    bad = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="modality 'x1'.*failed"):
        build_model("joint", input_shapes=[(5,), (5,)], n_classes=2, encoder=[bad, "mlp"])


def test_build_model_errors_list_valid_choices():
    with pytest.raises(ValueError, match="unknown method 'late'") as info:
        build_model("late", input_shapes=[(3,), (3,)], n_classes=2)
    assert all(m in str(info.value) for m in available_methods())
    with pytest.raises(ValueError, match="unknown encoder 'vit'.*cnn.*mlp"):
        build_model("joint", input_shapes=[(3,), (3,)], n_classes=2, encoder="vit")
    with pytest.raises(ValueError, match=r"modality 'audio'.*'cnn'.*\(40,\)"):
        build_model(
            "joint",
            input_shapes=[(40,), (8, 8)],
            n_classes=2,
            encoder="cnn",
            modality_names=["audio", "video"],
        )
    with pytest.raises(ValueError, match="takes: alpha, noise, noise_seed"):
        build_model("ogm-ge", input_shapes=[(3,), (3,)], n_classes=2, rank=3)
    with pytest.raises(ValueError, match="at least 2"):
        build_model("joint", input_shapes=[(3,)], n_classes=2)
    with pytest.raises(ValueError, match="n_classes"):
        build_model("joint", input_shapes=[(3,), (3,)], n_classes=1)


def test_build_model_rebuilds_from_a_stored_config():
    config = {
        "method": "ogm_ge",
        "encoder": ["mlp", "cnn"],
        "input_shapes": [(6,), (8, 8)],
        "n_classes": 3,
        "embed_dim": 8,
        "modality_names": ["tab", "img"],
        "method_kwargs": {"alpha": 0.3},
    }
    torch.manual_seed(0)
    model = build_model(**config)
    assert isinstance(model, OGMGEModel) and model.alpha == 0.3
    rebuilt = build_model(**json.loads(json.dumps(config)))  # shapes come back as lists
    rebuilt.load_state_dict(model.state_dict())
    xs = [torch.randn(3, 6), torch.randn(3, 8, 8)]
    model.eval(), rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(xs).logits, rebuilt(xs).logits)
