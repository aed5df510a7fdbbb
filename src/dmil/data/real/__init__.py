"""Loaders for real multimodal datasets (files under the data directory, or bundled)."""
