"""ExperimentSpec: validation, YAML round trip, precedence of overrides."""

from __future__ import annotations

import pytest

from dmil.spec import DataSpec, ExperimentSpec, ModelSpec, merge_dicts
from dmil.training.stages import StageSpec


def test_spec_unknown_key_suggests_the_close_match():
    with pytest.raises(ValueError, match=r"data: unknown key 'optoins'. Did you mean 'options'\?"):
        ExperimentSpec.from_dict({"data": {"optoins": {"n_samples": 10}}})


def test_spec_unknown_section_suggests_the_close_match():
    with pytest.raises(ValueError, match=r"f.yaml: unknown key 'modle'. Did you mean 'model'\?"):
        ExperimentSpec.from_dict({"modle": {}}, source="f.yaml")


def test_spec_unknown_train_key_suggests_the_close_match():
    with pytest.raises(ValueError, match=r"train: unknown key 'epoch'. Did you mean 'epochs'\?"):
        ExperimentSpec.from_dict({"train": {"epoch": 3}})


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("data", {"val_size": 1.5}, r"data.val_size: expected a number in \(0, 1\)"),
        ("data", {"interactions": "maybe"}, r"data.interactions: expected one of"),
        ("data", {"dataset": "x", "file": "y.npz"}, r"either dataset .* or file"),
        ("model", {"method": "jiont"}, r"unknown method 'jiont'.*Did you mean 'joint'"),
        ("model", {"embed_dim": 0}, r"model.embed_dim: expected a positive integer"),
        ("train", {"lr": "fast"}, r"TrainConfig.lr"),
    ],
)
def test_spec_invalid_value_names_the_key(section, values, message):
    with pytest.raises(ValueError, match=message):
        ExperimentSpec.from_dict({section: values})


def test_spec_yaml_round_trip_is_exact(tmp_path):
    stages = [StageSpec(name="a", epochs=2, freeze=("encoders",)), StageSpec(name="b", epochs=3)]
    spec = ExperimentSpec(
        data=DataSpec(dataset="synthetic-mixed", options={"n_samples": 300, "noise": [1.0, 2.0]}),
        model=ModelSpec(method="joint", encoder=("mlp", "mlp"), method_kwargs={"alpha": 0.1}),
    ).replace(train=ExperimentSpec().train.with_stages(stages))
    path = tmp_path / "spec.yaml"
    spec.to_yaml(path)
    again = ExperimentSpec.from_yaml(path)
    assert again == spec
    assert again.train.epochs == 5 and again.train.stages[0].freeze == ("encoders",)


def test_spec_override_flags_win_and_options_merge():
    file = {"data": {"options": {"n_samples": 500, "noise": 2.0}}, "train": {"epochs": 7}}
    spec = ExperimentSpec().override(file)
    spec = spec.override({"data": {"options": {"n_samples": 300}}, "train": {"lr": 0.01}})
    assert spec.data.options == {"n_samples": 300, "noise": 2.0}
    assert spec.train.epochs == 7 and spec.train.lr == 0.01


def test_spec_override_epochs_rescales_stages():
    spec = ExperimentSpec().replace(
        train=ExperimentSpec().train.with_stages(
            [StageSpec(name="a", epochs=10), StageSpec(name="b", epochs=30)]
        )
    )
    changed = spec.override({"train": {"epochs": 8}})
    assert [s.epochs for s in changed.train.stages] == [2, 6]


def test_spec_override_stages_without_epochs_take_their_total_then_flags_rescale():
    # A --config file with stages and no train.epochs, then `--epochs 5` on the command
    # line (the flags win).
    file = {"train": {"stages": [{"name": "a", "epochs": 4}, {"name": "b", "epochs": 6}]}}
    spec = ExperimentSpec().override(file)
    assert spec.train.epochs == 10
    flags = spec.override({"train": {"epochs": 5}})
    assert flags.train.epochs == 5 and [s.epochs for s in flags.train.stages] == [2, 3]
    paper = ExperimentSpec().override({"train": {"stages": "dmil-paper"}})
    assert [s.epochs for s in paper.train.stages] == [10, 5, 55]  # the preset's own budget


def test_spec_override_file_replaces_the_dataset():
    spec = ExperimentSpec().override({"data": {"options": {"n_samples": 50}}})
    changed = spec.override({"data": {"file": "mine.npz"}})
    assert changed.data.dataset is None and changed.data.options == {}
    assert changed.data.file == "mine.npz" and changed.data.name == "mine"


def test_merge_dicts_replaces_lists_and_merges_mappings():
    out = merge_dicts({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}, "c": 2})
    assert out == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}


def test_close_names_ignore_case_and_know_common_aliases():
    from dmil.utils import close_names, did_you_mean

    assert close_names("ROSMAP", ["rosmap", "ccv"]) == ["rosmap"]
    assert close_names("learning_rate", ["lr", "epochs"]) == ["lr"]
    assert close_names("wd", ["weight-decay", "lr"]) == ["weight-decay"]
    # An alias joins the spelling matches instead of hiding them.
    assert close_names("device", ["accelerator", "devices"]) == ["accelerator", "devices"]
    assert close_names("zzz", ["lr"]) == [] and did_you_mean("zzz", ["lr"]) == ""
