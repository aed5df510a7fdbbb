"""Models: encoders (registry by name), multimodal paradigms and DMIL."""
