"""Encoders: registry, shapes, errors and the ResNet-18 structure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dmil.models import available_encoders, create_encoder, register_encoder
from dmil.models.encoders import BasicBlock, ResNet18Encoder
from dmil.models.encoders import registry as encoder_registry

#: Per-sample shapes each registered encoder must take, with small settings for speed.
SAMPLE_CASES: dict[str, list[tuple[tuple[int, ...], dict]]] = {
    "mlp": [((10,), {}), ((3, 8, 8), {"hidden_dims": (16, 16)}), ((4, 5), {"dropout": 0.1})],
    "cnn": [((8, 8), {}), ((1, 8, 8), {"channels": (8, 16)}), ((40, 126), {"channels": (8,)})],
    "resnet18": [((3, 8, 8), {"width": 0.125}), ((40, 126), {"width": 0.0625})],
    "transformer": [((5, 7), {}), ((3, 4), {"pooling": "cls", "d_model": 16, "n_heads": 2})],
}

CASES = [
    pytest.param(name, shape, kwargs, id=f"{name}-{'x'.join(map(str, shape))}")
    for name, cases in SAMPLE_CASES.items()
    for shape, kwargs in cases
]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_has_the_contract_names_and_sample_cases():
    assert {"mlp", "cnn", "resnet18", "transformer"} <= set(available_encoders())
    assert set(available_encoders()) <= set(SAMPLE_CASES), "add sample shapes for new encoders"


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES)
def test_encoder_maps_batch_to_embedding(name, shape, kwargs):
    torch.manual_seed(0)
    encoder = create_encoder(name, input_shape=shape, embed_dim=12, modality="m", **kwargs)
    assert encoder.out_dim == 12
    encoder.train()
    out = encoder(torch.randn(4, *shape))
    assert out.shape == (4, 12)
    assert torch.isfinite(out).all()
    out.sum().backward()
    # Every parameter takes part (DDP needs no find_unused_parameters).
    missing = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not missing
    encoder.eval()
    with torch.no_grad():
        assert encoder(torch.randn(1, *shape)).shape == (1, 12)


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_encoder_casts_integer_inputs(name):
    shape = SAMPLE_CASES[name][0][0]
    encoder = create_encoder(name, input_shape=shape, embed_dim=6, modality="codes")
    out = encoder(torch.randint(0, 3, (2, *shape)))
    assert out.dtype == torch.get_default_dtype() and out.shape == (2, 6)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("cnn", (10,)),
        ("cnn", (2, 3, 4, 5)),
        ("resnet18", (64,)),
        ("transformer", (10,)),
        ("transformer", (2, 3, 4)),
        ("mlp", ()),
    ],
)
def test_wrong_input_shape_names_modality_encoder_and_shape(name, shape):
    with pytest.raises(ValueError, match="audio") as info:
        create_encoder(name, input_shape=shape, modality="audio")
    message = str(info.value)
    assert f"'{name}'" in message
    assert str(tuple(shape)) in message


def test_forward_with_wrong_batch_shape_names_modality():
    encoder = create_encoder("cnn", input_shape=(8, 8), embed_dim=4, modality="image")
    with pytest.raises(ValueError, match=r"image.*\(B, 8, 8\).*\(2, 8, 9\)"):
        encoder(torch.randn(2, 8, 9))


def test_unknown_encoder_lists_known_names():
    with pytest.raises(ValueError, match="unknown encoder 'vit'") as info:
        create_encoder("vit", input_shape=(3, 8, 8))
    for name in available_encoders():
        assert name in str(info.value)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        create_encoder("transformer", input_shape=(4, 5), d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="pooling"):
        create_encoder("transformer", input_shape=(4, 5), pooling="max")
    with pytest.raises(ValueError, match="dropout"):
        create_encoder("mlp", input_shape=(4,), dropout=1.5)
    with pytest.raises(ValueError, match="embed_dim"):
        create_encoder("mlp", input_shape=(4,), embed_dim=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        create_encoder("mlp", input_shape=(4,), width=2)


def test_resnet18_structure_matches_resnet18():
    encoder = create_encoder("resnet18", input_shape=(3, 32, 32), embed_dim=8)
    assert isinstance(encoder, ResNet18Encoder) and encoder.small_input
    blocks = [m for m in encoder.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    assert [stage[-1].conv2.out_channels for stage in encoder.stages] == [64, 128, 256, 512]
    assert not any(isinstance(m, nn.MaxPool2d) for m in encoder.stem)
    trunk = sum(
        p.numel() for n, p in encoder.named_parameters() if n.startswith(("stem", "stages"))
    )
    # The 32x32-input ResNet-18 (3x3 stem, no max-pool) without its classifier.
    assert trunk == 11_168_832


def test_resnet18_stem_and_width_follow_input_size():
    large = create_encoder("resnet18", input_shape=(3, 96, 96), embed_dim=8, width=0.25)
    assert not large.small_input
    assert any(isinstance(m, nn.MaxPool2d) for m in large.stem)
    assert [stage[-1].conv2.out_channels for stage in large.stages] == [16, 32, 64, 128]
    assert large(torch.randn(2, 3, 96, 96)).shape == (2, 8)
    forced = create_encoder("resnet18", input_shape=(1, 8, 8), width=0.125, small_input=False)
    assert forced(torch.randn(2, 1, 8, 8)).shape == (2, 64)


def test_register_encoder_adds_a_name_and_refuses_duplicates():
    @register_encoder("test-linear")
    class _Linear(nn.Module):
        def __init__(self, *, input_shape, embed_dim, modality):
            super().__init__()
            self.out_dim = embed_dim
            self.layer = nn.Linear(input_shape[0], embed_dim)

        def forward(self, x):
            return self.layer(x)

    try:
        assert "test-linear" in available_encoders()
        encoder = create_encoder("test-linear", input_shape=(3,), embed_dim=5)
        assert encoder(torch.randn(2, 3)).shape == (2, 5)
        with pytest.raises(ValueError, match="already registered"):
            register_encoder("test-linear")(nn.Linear)
    finally:
        encoder_registry._REGISTRY.pop("test-linear", None)
