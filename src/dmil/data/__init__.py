"""Data layer: the dataset container, splits, file formats, the registry, synthetic
suites with known interactions and loaders for real multimodal data."""

from dmil.data import real, synthetic  # noqa: F401  (registers the loaders)
from dmil.data.container import INTERACTION_TYPES, SPLIT_NAMES, MultimodalDataset
from dmil.data.formats import read_dataset, read_lsmi_pt, read_npz, write_lsmi_pt, write_npz
from dmil.data.registry import (
    available_datasets,
    dataset_info,
    load,
    register_dataset,
    resolve_data_options,
    resolve_data_root,
)
from dmil.data.splits import DatasetSplits, split_dataset, split_indices

__all__ = [
    "INTERACTION_TYPES",
    "SPLIT_NAMES",
    "DatasetSplits",
    "MultimodalDataset",
    "available_datasets",
    "dataset_info",
    "load",
    "read_dataset",
    "read_lsmi_pt",
    "read_npz",
    "register_dataset",
    "resolve_data_options",
    "resolve_data_root",
    "split_dataset",
    "split_indices",
    "write_lsmi_pt",
    "write_npz",
]
