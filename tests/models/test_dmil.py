"""DMIL: KL terms, the gate, components for M >= 2 modalities, ablations, staged
training (frozen modules stay bit-identical, resume inside a stage), and the gate
explanation against known interactions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dmil.data import load, split_dataset
from dmil.evaluation import predict
from dmil.evaluation.experiment import method_stages
from dmil.models import build_model, default_stages
from dmil.models.dmil import VARIANTS, gaussian_kl, prior_kl
from dmil.models.dmil.layers import Gaussian, VariationalBottleneck, standard_normal_kl
from dmil.training import TrainConfig, fit, seed_everything
from dmil.training.stages import StageSpec, plan_stage

CPU = {"accelerator": "cpu", "progress": False}
VARIANT_METHODS = ["dmil", "dmil-fc", "dmil-id", "dmil-cd", "dmil-mean"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mixed_splits():
    data = load("synthetic-mixed", n_samples=480, random_state=0)
    return split_dataset(data, random_state=0)


def test_gaussian_kl_is_non_negative_and_zero_only_at_equality():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        mq, lq, mp, lp = (torch.randn(16, 8, generator=gen) for _ in range(4))
        assert float(gaussian_kl(mq, lq, mp, lp)) >= 0.0
    mean, logvar = torch.randn(16, 8, generator=gen), torch.randn(16, 8, generator=gen)
    assert float(gaussian_kl(mean, logvar, mean, logvar)) == pytest.approx(0.0, abs=1e-7)
    zeros = torch.zeros(4, 3)
    assert float(prior_kl(Gaussian(mean=zeros, logvar=zeros, value=zeros))) == 0.0
    # KL(N(1, 1) || N(0, 1)) = 0.5 per dimension (a mean over dimensions).
    ones = torch.ones(4, 3)
    assert float(gaussian_kl(ones, zeros, zeros, zeros)) == pytest.approx(0.5)
    # The closed form against N(0, I) equals the general KL with a zero prior.
    assert float(standard_normal_kl(mean, logvar)) == pytest.approx(
        float(gaussian_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(mean))), rel=1e-6
    )


def test_bottleneck_samples_in_training_and_returns_the_mean_in_evaluation():
    torch.manual_seed(0)
    layer = VariationalBottleneck(5, 3, logvar_init=0.0)
    x = torch.randn(7, 5)
    layer.train()
    code = layer(x)
    assert not torch.equal(code.value, code.mean)
    layer.eval()
    code = layer(x)
    assert torch.equal(code.value, code.mean)
    assert code.logvar.abs().max() <= 10.0


@pytest.mark.parametrize("method", VARIANT_METHODS)
@pytest.mark.parametrize("n_modalities", [2, 3, 4, 6])
def test_dmil_components_and_gate_for_any_number_of_modalities(method, n_modalities):
    shapes = [(5 + m,) for m in range(n_modalities)]
    torch.manual_seed(0)
    model = build_model(method, input_shapes=shapes, n_classes=3, embed_dim=16, latent_dim=8)
    has_id, has_cd, has_syn, _, _ = VARIANTS[model.variant]
    expected = (
        (["R"] if has_cd else [])
        + [f"U{m + 1}" if has_cd else f"M{m + 1}" for m in range(n_modalities)]
        + (["S"] if has_syn else [])
    )
    assert list(model.component_names) == expected
    out = model([torch.randn(9, *s) for s in shapes])
    assert out.gate.shape == (9, len(expected))
    assert torch.allclose(out.gate.sum(dim=1), torch.ones(9), atol=1e-6)
    assert (out.gate >= 0).all()
    assert list(out.component_logits) == expected
    assert len(out.modality_logits) == n_modalities
    terms = model.loss_terms(out, torch.randint(0, 3, (9,)))
    assert all(torch.isfinite(v) for v in terms.values())
    for name in ("kl_id", "kl_cd", "align"):
        if name in terms:
            assert float(terms[name].detach()) >= 0.0
    if method == "dmil-mean":
        assert torch.allclose(out.gate, torch.full_like(out.gate, 1 / len(expected)))
    if method == "dmil-fc":  # no variational layers: no KL terms
        assert "kl_id" not in terms or float(terms["kl_id"]) == 0.0


def test_dmil_gated_prediction_is_the_weighted_sum_of_component_logits():
    torch.manual_seed(0)
    model = build_model("dmil", input_shapes=[(6,), (4,)], n_classes=3, embed_dim=8, latent_dim=4)
    model.eval()
    out = model([torch.randn(5, 6), torch.randn(5, 4)])
    stacked = torch.stack(list(out.component_logits.values()), dim=1)
    assert torch.allclose(out.logits, (out.gate.unsqueeze(2) * stacked).sum(1), atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [{}, {"gate_input": "mean", "gate_over": "probs", "synergy_input": "remainder"}],
)
def test_dmil_batched_cross_entropies_equal_the_per_head_ones(options):
    torch.manual_seed(0)
    shapes = [(6,), (4,), (5,)]
    model = build_model(
        "dmil", input_shapes=shapes, n_classes=3, embed_dim=8, latent_dim=4, **options
    )
    with torch.no_grad():  # values only
        out = model([torch.randn(7, *s) for s in shapes])
    target = torch.randint(0, 3, (7,))
    terms = model.loss_terms(out, target)
    ce = torch.nn.functional.cross_entropy
    per_head = {k: ce(v, target) for k, v in out.component_logits.items()}
    assert float(terms["ce_components"]) == pytest.approx(float(sum(per_head.values())), rel=1e-5)
    assert float(terms["ce_synergy"]) == pytest.approx(float(per_head["S"]), rel=1e-5)
    modality = sum(ce(v, target) for v in out.modality_logits)
    assert float(terms["ce_modality"]) == pytest.approx(float(modality), rel=1e-5)
    if options.get("gate_over") == "probs":
        probs = torch.stack([v.softmax(1) for v in out.component_logits.values()], dim=1)
        mixed = (out.gate.unsqueeze(2) * probs).sum(1).log()
        assert torch.allclose(out.logits, mixed, atol=1e-5)


def test_dmil_embedded_forward_equals_the_full_forward():
    torch.manual_seed(0)
    model = build_model("dmil", input_shapes=[(6,), (4,)], n_classes=3, embed_dim=8, latent_dim=4)
    model.eval()
    xs = [torch.randn(5, 6), torch.randn(5, 4)]
    full = model(xs)
    embedded = model(model.encode(xs), embedded=True)
    assert torch.equal(full.logits, embedded.logits)
    assert torch.equal(full.gate, embedded.gate)


def test_dmil_with_user_encoders():
    encoders = [nn.Sequential(nn.Linear(6, 10), nn.ReLU()), nn.Linear(4, 7)]
    model = build_model("dmil", input_shapes=[(6,), (4,)], n_classes=2, encoder=encoders)
    assert model.out_dims == (10, 7)
    out = model([torch.randn(3, 6), torch.randn(3, 4)])
    assert out.logits.shape == (3, 2)


def test_dmil_rejects_bad_settings():
    with pytest.raises(ValueError, match="gate_input"):
        build_model("dmil", input_shapes=[(3,), (3,)], n_classes=2, gate_input="both")
    with pytest.raises(ValueError, match="latent_dim"):
        build_model("dmil", input_shapes=[(3,), (3,)], n_classes=2, latent_dim=0)
    with pytest.raises(ValueError, match="synergy_input"):
        build_model("dmil", input_shapes=[(3,), (3,)], n_classes=2, synergy_input="all")
    for key, value in (
        ("synergy_hidden", 0),
        ("gate_hidden", 0),
        ("logvar_clamp", True),
        ("synergy_dropout", 1.0),
        ("synergy_dropout", -0.1),
    ):
        with pytest.raises(ValueError, match=f"dmil {key}"):
            build_model("dmil", input_shapes=[(3,), (3,)], n_classes=2, **{key: value})


def test_synergy_dropout_acts_in_training_only_and_keeps_parameter_names():
    from dmil.models.dmil.layers import DropoutLinear

    shapes = [(4,), (4,)]
    torch.manual_seed(0)
    plain = build_model("dmil", input_shapes=shapes, n_classes=3, synergy_dropout=0)
    dropped = build_model("dmil", input_shapes=shapes, n_classes=3, synergy_dropout=0.5)
    assert not any(isinstance(m, DropoutLinear) for m in plain.modules())
    assert sum(isinstance(m, DropoutLinear) for m in dropped.synergy.modules()) == 2
    # The same parameter names either way, so checkpoints made without it still load.
    dropped.load_state_dict(plain.state_dict())
    x = [torch.randn(8, 4), torch.randn(8, 4)]
    plain.eval(), dropped.eval()
    assert torch.equal(plain(x).logits, dropped(x).logits)
    net, features = dropped.synergy["net"], torch.randn(8, dropped.synergy["net"][0].in_features)
    net.train()
    assert not torch.equal(net(features), net(features))
    net.eval()
    assert torch.equal(net(features), plain.synergy["net"](features))


def test_dmil_presets_apply_to_every_variant_and_scale_to_the_budget():
    for method in VARIANT_METHODS:
        model = build_model(method, input_shapes=[(4,), (4,)], n_classes=2)
        stages = default_stages(method)
        assert [s.name for s in stages] == ["intra", "decompose", "finetune"]
        for stage in stages:
            plan_stage(model, stage)  # every pattern names a module of every variant
    config = method_stages(TrainConfig(epochs=40, **CPU), "dmil")
    assert sum(s.epochs for s in config.stages) == 40 == config.epochs
    assert method_stages(TrainConfig(epochs=40, **CPU), "joint").stages == ()
    assert default_stages("dmil", "cnn")[0].epochs == 5


def _dmil_cnn(splits):
    seed_everything(0)
    return build_model(
        "dmil",
        input_shapes=list(splits.train.shapes.values()),
        n_classes=splits.train.n_classes,
        encoder="cnn",
        embed_dim=16,
        latent_dim=8,
        encoder_kwargs={"channels": [4, 8]},
    )


@pytest.fixture(scope="module")
def image_splits():
    """digits-halves as two 4x8 image halves, for the CNN encoder (which has BatchNorm)."""
    data = load("digits-halves").subset(np.arange(400))
    data = data.with_modalities([x.reshape(-1, 4, 8) for x in data.modalities])
    return split_dataset(data, random_state=0)


@pytest.mark.parametrize("cache", [True, False])
def test_frozen_stage_leaves_frozen_parameters_and_batchnorm_buffers_bit_identical(
    image_splits, cache
):
    splits = image_splits
    model = _dmil_cnn(splits)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stage = StageSpec(
        name="decompose",
        epochs=2,
        freeze=("encoders", "intra.proj", "synergy"),
        loss_weights={"ce": 1.0, "ce_components": 0.5, "kl_cd": 0.02, "align": 0.02},
        cache_frozen=cache,
    )
    result = fit(
        model,
        splits.train,
        splits.val,
        config=TrainConfig(batch_size=32, seed=0, **CPU).with_stages([stage]),
    )
    assert result.stages[0]["cached_encoders"] is cache
    after = result.model.state_dict()
    frozen = [k for k in before if k.split(".")[0] in ("encoders", "synergy")]
    frozen += [k for k in before if k.startswith("intra.proj.")]
    assert any("running_mean" in k for k in frozen)  # BatchNorm buffers are covered
    for key in frozen:
        assert torch.equal(before[key], after[key]), key
    trained = [k for k in before if k.startswith(("consistency.", "gate.", "heads."))]
    assert any(not torch.equal(before[k], after[k]) for k in trained)


def test_cached_and_uncached_frozen_stage_train_the_same(image_splits):
    splits = image_splits
    stage = StageSpec(
        name="decompose",
        epochs=2,
        freeze=("encoders", "intra", "synergy"),
        loss_weights={"ce": 1.0, "ce_components": 0.5},
    )
    runs = []
    for cache in (True, False):
        model = _dmil_cnn(splits)
        spec = StageSpec.from_dict({**stage.to_dict(), "cache_frozen": cache})
        config = TrainConfig(batch_size=32, seed=0, **CPU).with_stages([spec])
        runs.append(fit(model, splits.train, splits.val, config=config))
    a, b = (r.model.state_dict() for r in runs)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert [r["val_accuracy"] for r in runs[0].history] == [
        r["val_accuracy"] for r in runs[1].history
    ]


def _three_stages() -> list[StageSpec]:
    return [
        StageSpec.from_dict({**s.to_dict(), "epochs": n, "patience": 0})
        for s, n in zip(default_stages("dmil"), (2, 2, 2), strict=True)
    ]


# Stage 2's start, inside stage 2, stage 3's start (it must improve on stage 2), inside 3.
@pytest.mark.parametrize("interrupt_epoch", [3, 4, 5, 6])
def test_resume_inside_a_stage_reproduces_the_uninterrupted_run(
    mixed_splits, tmp_path, interrupt_epoch
):
    splits = mixed_splits
    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(_three_stages())

    def model():
        seed_everything(0)
        return build_model(
            "dmil", input_shapes=list(splits.train.shapes.values()), n_classes=4, embed_dim=16
        )

    full = fit(model(), splits.train, splits.val, config=config, out_dir=tmp_path / "a")
    steps_per_epoch = -(-len(splits.train) // 64)
    interrupted = model()
    calls = {"n": 0}

    def stop(output, target):
        calls["n"] += 1
        if calls["n"] == (interrupt_epoch - 1) * steps_per_epoch + 2:
            raise KeyboardInterrupt("simulated interruption")

    interrupted.on_after_backward = stop
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, splits.train, splits.val, config=config, out_dir=tmp_path / "b")
    resumed = fit(
        model(), splits.train, splits.val, config=config, out_dir=tmp_path / "b", resume=True
    )
    assert resumed.resumed_from_epoch == interrupt_epoch - 1

    def strip(history):
        return [{k: v for k, v in r.items() if "second" not in k} for r in history]

    assert strip(resumed.history) == strip(full.history)
    assert [r["stage"] for r in full.history] == ["intra"] * 2 + ["decompose"] * 2 + [
        "finetune"
    ] * 2
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s["best_epoch"] for s in resumed.stages] == [s["best_epoch"] for s in full.stages]


def test_each_stage_starts_from_the_previous_stage_best_weights(mixed_splits):
    splits = mixed_splits
    stages = _three_stages()
    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(stages[:2])
    seed_everything(0)
    model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    result = fit(model, splits.train, splits.val, config=config)
    first, second = result.stages
    assert first["name"] == "intra" and second["name"] == "decompose"
    assert first["best_epoch"] <= 2 < second["best_epoch"] <= 4
    # The final weights are the best validation epoch of the last stage.
    preds = predict(result.model, splits.val)
    assert float((preds.y_pred == preds.labels).mean()) == pytest.approx(result.best_val_accuracy)


def test_one_device_stage_changes_skip_the_full_garbage_collection(mixed_splits, monkeypatch):
    # Only a wrapper around another module (DDP's) needs collecting between stages; on one
    # device each collection would cost a few tenths of a second per stage change.
    import dmil.training.loop as loop

    calls = []
    monkeypatch.setattr(loop.gc, "collect", lambda *args: calls.append(args) or 0)
    splits = mixed_splits
    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(_three_stages())
    seed_everything(0)
    model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    result = fit(model, splits.train, splits.val, config=config)
    assert [s["name"] for s in result.stages] == ["intra", "decompose", "finetune"]
    assert calls == []


def test_a_stage_change_releases_the_previous_stages_wrapper(mixed_splits):
    # When a stage builds its Fabric wrapper, nothing holds the previous stage's any more
    # (under DDP that wrapper carries reducer hooks and gradient buckets).
    import gc
    import weakref

    from dmil.training import build_fabric

    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(_three_stages())
    fabric = build_fabric(config)
    setup, made, alive = fabric.setup_module, [], []

    def recording_setup(module, *args, **kwargs):
        gc.collect()
        alive.append([ref() is not None for ref in made])
        wrapper = setup(module, *args, **kwargs)
        made.append(weakref.ref(wrapper))
        return wrapper

    fabric.setup_module = recording_setup
    seed_everything(0)
    model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    fit(model, mixed_splits.train, mixed_splits.val, config=config, fabric=fabric)
    assert alive == [[], [False], [False, False]]


def _rec_only_stage(**extra) -> StageSpec:
    # Trains only the intra-modality reconstruction, which never reaches the logits: the
    # validation accuracy and loss stay exactly those of the weights the stage starts with.
    # Without the encoder cache, so validation runs the same operations as in stage 1.
    return StageSpec(
        name="rec",
        epochs=2,
        train=("intra.rec",),
        loss_weights={"rec_id": 1.0},
        patience=0,
        cache_frozen=False,
        **extra,
    )


@pytest.mark.parametrize("on_disk", [True, False])
def test_a_stage_that_must_improve_keeps_the_previous_best_when_it_does_not(
    mixed_splits, tmp_path, on_disk
):
    splits = mixed_splits
    first = _three_stages()[0]

    def run(improve: bool, out):
        config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(
            [first, _rec_only_stage(improve_on_previous=improve)]
        )
        seed_everything(0)
        model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
        return fit(model, splits.train, splits.val, config=config, out_dir=out)

    kept = run(True, tmp_path / "kept" if on_disk else None)
    plain = run(False, tmp_path / "plain" if on_disk else None)
    stage1_best = kept.stages[0]["best_epoch"]
    # Without the option the stage's first epoch is its best; with it, the same accuracy
    # and loss never beat stage 1's best, which stays the run's result.
    assert plain.best_epoch == 3 and plain.stages[1]["kept_previous"] is False
    assert kept.best_epoch == stage1_best and kept.stages[1]["kept_previous"] is True
    assert [r["best_epoch"] for r in kept.history[2:]] == [stage1_best] * 2
    assert kept.best_val_accuracy == plain.best_val_accuracy
    a, b = kept.model.state_dict(), plain.model.state_dict()
    rec = [k for k in a if k.startswith("intra.rec.")]
    assert rec and not any(torch.equal(a[k], b[k]) for k in rec)  # stage 2 trained them
    assert all(torch.equal(a[k], b[k]) for k in a if k not in rec)
    # The kept weights are exactly those of stage 1's best epoch.
    one_stage = TrainConfig(batch_size=64, seed=0, **CPU).with_stages([first])
    seed_everything(0)
    model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    alone = fit(model, splits.train, splits.val, config=one_stage).model.state_dict()
    assert all(torch.equal(a[k], alone[k]) for k in a)
    if on_disk:
        ckpt = torch.load(tmp_path / "kept" / "best.ckpt", weights_only=False)
        assert ckpt["stage"]["index"] == 0 and ckpt["epoch"] == stage1_best


def test_improve_on_previous_is_checked_against_the_stage_order():
    first = _three_stages()[0]
    with pytest.raises(ValueError, match="needs a previous stage"):
        TrainConfig(**CPU).with_stages([_rec_only_stage(improve_on_previous=True)])
    with pytest.raises(ValueError, match="monitors 'logits'"):
        TrainConfig(**CPU).with_stages(
            [first, _rec_only_stage(improve_on_previous=True, monitor="modality_mean")]
        )
    with pytest.raises(TypeError, match="improve_on_previous must be true or false"):
        _rec_only_stage(improve_on_previous="yes")


def test_stages_stored_before_a_stage_setting_existed_still_resume(tmp_path):
    # A checkpoint written before `improve_on_previous` existed stores stages without it;
    # resuming accepts them where the setting is at its default (the old behaviour) and
    # still refuses stages that really differ.
    from dmil.training.loop import _check_resume

    def config_with(improve: bool) -> TrainConfig:
        stages = [
            StageSpec.from_dict({**s.to_dict(), "improve_on_previous": improve and i == 2})
            for i, s in enumerate(_three_stages())
        ]
        return TrainConfig(batch_size=64, seed=0, **CPU).with_stages(stages)

    plain = config_with(False)
    old_stages = [
        {k: v for k, v in s.items() if k != "improve_on_previous"}
        for s in plain.to_dict()["stages"]
    ]
    stored = {
        "config": {**plain.to_dict(), "stages": old_stages},
        "model_config": {},
        "extra": {"spec": {"train": {"stages": old_stages}}},
    }
    for config, accepted in ((plain, True), (config_with(True), False)):
        extra = {"spec": {"train": {"stages": config.to_dict()["stages"]}}}
        if accepted:
            _check_resume(stored, config=config, model_config={}, extra=extra, path=tmp_path)
        else:
            with pytest.raises(ValueError, match="training settings differ"):
                _check_resume(stored, config=config, model_config={}, extra=extra, path=tmp_path)


def test_a_component_monitor_selects_the_stage_by_that_component_head(mixed_splits):
    # Stage 1 trains only the synergy head; `component:S` judges its epochs by that head,
    # so the kept weights' validation accuracy is the S head's, not the gated prediction's.
    splits = mixed_splits
    first = StageSpec.from_dict(
        {**_three_stages()[0].to_dict(), "epochs": 3, "monitor": "component:S"}
    )
    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages([first])
    seed_everything(0)
    model = build_model("dmil", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    result = fit(model, splits.train, splits.val, config=config)
    result.model.eval()
    with torch.no_grad():
        out = result.model([splits.val.modality(n).float() for n in splits.val.modality_names])
    labels = splits.val.labels
    s_acc = float((out.component_logits["S"].argmax(1) == labels).float().mean())
    gated_acc = float((out.logits.argmax(1) == labels).float().mean())
    assert result.best_val_accuracy == pytest.approx(s_acc)
    assert s_acc != pytest.approx(gated_acc)  # the two monitors do differ here


def test_stage_monitors_and_loss_weights_are_checked_before_training(mixed_splits, monkeypatch):
    # Every mistake below is refused before the first optimiser step, even when it sits
    # in the last stage.
    steps = {"n": 0}
    monkeypatch.setattr(
        torch.optim.AdamW, "step", lambda self, closure=None: steps.__setitem__("n", 1)
    )
    with pytest.raises(ValueError, match="monitor must be one of"):
        StageSpec(name="a", epochs=1, monitor="component:")
    with pytest.raises(ValueError, match="every loss weight is zero"):
        StageSpec(name="a", epochs=1, loss_weights={"ce": 0.0})
    first = _three_stages()[0]

    def refused(method: str, last: StageSpec, match: str) -> None:
        config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages([first, last])
        model = build_model(method, input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
        with pytest.raises(ValueError, match=match):
            fit(model, mixed_splits.train, mixed_splits.val, config=config)

    refused(
        "dmil",
        StageSpec(name="b", epochs=1, monitor="component:Q"),
        r"stage 'b': monitor 'component:Q' names no component of DMIL "
        r"\(its components: R, U1, U2, S\)",
    )
    refused(
        "dmil",
        StageSpec(name="b", epochs=1, loss_weights={"ce": 1.0, "ce_synergies": 1.0}),
        r"stage 'b': loss_weights name \['ce_synergies'\], which DMIL does not produce\. "
        r"Did you mean 'ce_synergy'\?",
    )
    first_joint = StageSpec(name="a", epochs=1)
    config = TrainConfig(batch_size=64, seed=0, **CPU).with_stages(
        [first_joint, StageSpec(name="b", epochs=1, monitor="component:S")]
    )
    joint = build_model("joint", input_shapes=[(32,), (32,)], n_classes=4, embed_dim=16)
    with pytest.raises(ValueError, match=r"names no component of .*none"):
        fit(joint, mixed_splits.train, mixed_splits.val, config=config)
    assert steps["n"] == 0


def test_which_methods_have_a_learned_gate_follows_the_variants():
    from dmil.models import has_learned_gate

    assert [has_learned_gate(m) for m in VARIANT_METHODS] == [True, True, True, True, False]
    assert not has_learned_gate("joint") and not has_learned_gate("ensemble")
    for method in VARIANT_METHODS:
        model = build_model(method, input_shapes=[(4,), (5,)], n_classes=2, embed_dim=8)
        assert model.has_gate == has_learned_gate(method)


def test_learned_gate_of_subclasses_and_user_paradigms():
    from dmil.models import has_learned_gate
    from dmil.models.dmil import DMIL
    from dmil.models.paradigms import Paradigm, register_method

    class MeanLike(DMIL):
        variant = "mean"

    class OwnChoice(DMIL):
        learned_gate = False

    assert MeanLike.learned_gate is False and OwnChoice.learned_gate is False
    with pytest.raises(ValueError, match="variant: expected one of"):

        class Unknown(DMIL):  # noqa: F841
            variant = "mine"

    from dmil.models.paradigms.registry import _METHODS

    @register_method("test-gated-paradigm")
    class Gated(Paradigm):
        learned_gate = True

    try:
        assert has_learned_gate("test-gated-paradigm")
    finally:
        del _METHODS["test-gated-paradigm"]  # keep the registry as the other tests see it
    assert has_learned_gate("DMIL_FC") and not has_learned_gate("dmil_mean")
