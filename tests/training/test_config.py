"""TrainConfig validation, conversions and the Fabric factory."""

from __future__ import annotations

import pytest

from dmil.training import TrainConfig, build_fabric


def test_config_defaults_round_trip():
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(lr=0.1).lr == 0.1 and cfg.lr == 1e-3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": "adam"}, r"TrainConfig.optimizer: expected one of \['adamw', 'sgd'\]"),
        ({"scheduler": "step"}, "TrainConfig.scheduler"),
        ({"accelerator": "tpu"}, "TrainConfig.accelerator"),
        ({"precision": "8-bit"}, "TrainConfig.precision"),
        ({"epochs": 0}, "TrainConfig.epochs: expected a positive integer"),
        ({"lr": -1.0}, "TrainConfig.lr"),
        ({"patience": -2}, "TrainConfig.patience"),
        ({"grad_clip": 0.0}, "TrainConfig.grad_clip"),
        ({"lr": float("nan")}, "TrainConfig.lr: expected a finite non-negative number"),
        ({"weight_decay": float("inf")}, "TrainConfig.weight_decay: expected a finite"),
        ({"grad_clip": float("inf")}, "TrainConfig.grad_clip: expected a finite positive"),
        ({"batch_size": 33, "devices": 2, "strategy": "ddp"}, "divisible by devices"),
        ({"devices": 2}, "needs an explicit distributed strategy"),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_from_dict_lists_valid_keys_and_reads_yaml_number_strings():
    with pytest.raises(ValueError, match=r"unknown training setting\(s\) \['lrr'\]"):
        TrainConfig.from_dict({"lrr": 0.1})
    assert TrainConfig.from_dict({"lr": "1e-3"}).lr == 1e-3
    with pytest.raises(ValueError, match="TrainConfig.lr: expected a number"):
        TrainConfig.from_dict({"lr": "fast"})


def test_build_fabric_uses_the_settings():
    fabric = build_fabric(TrainConfig(accelerator="cpu", precision="64-true"))
    assert fabric.device.type == "cpu" and fabric.world_size == 1


def test_stages_may_name_a_shipped_preset_fitted_to_the_budget():
    from dmil.training.stages import load_preset

    paper = TrainConfig(epochs=70, stages="dmil-paper")
    assert paper.stages == load_preset("dmil-paper")  # 10 / 5 / 55 epochs, as published
    short = TrainConfig(epochs=20, stages="dmil-vectors")
    assert [s.epochs for s in short.stages] == [8, 2, 10]
    assert short.to_dict()["stages"][0]["name"] == "intra"  # stored resolved
    with pytest.raises(
        ValueError, match="TrainConfig.stages: unknown stage preset 'dmil-papr'. Did you mean"
    ):
        TrainConfig(stages="dmil-papr")


def test_a_named_preset_without_epochs_keeps_its_budget_and_checks_epochs():
    # A mapping (a YAML file) without epochs keeps the preset's own total.
    assert TrainConfig.from_dict({"stages": "dmil-paper"}).epochs == 70
    with pytest.raises(ValueError, match="TrainConfig.epochs: expected a positive integer"):
        TrainConfig(epochs=0, stages="dmil-paper")
