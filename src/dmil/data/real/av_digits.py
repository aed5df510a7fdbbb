"""AV-digits: spoken digits (FSDD recordings) paired with handwritten digit images.

An AV-MNIST-style audio-visual set built from two real sources:

* **audio**: the 3000 Free Spoken Digit Dataset recordings
  ``fsdd/recordings/{digit}_{speaker}_{take}.wav`` (8 kHz, mono, 16-bit; 6 speakers x
  10 digits x 50 takes), each turned into a fixed-size log-mel spectrogram with torch
  alone (see :func:`log_mel_spectrogram`). Every waveform is scaled to [-1, 1)
  (int16 / 32768), centred in a window of ``n_fft + (n_frames - 1) * hop_length``
  samples (zero-padded on both sides when shorter, centre-cropped when longer; with the
  defaults 8320 samples = 1.04 s, longer than 99 % of the recordings), then framed
  without extra padding (``center=False``) so there are exactly ``n_frames`` frames.
  Defaults: ``n_fft=256`` (32 ms Hann window), ``hop_length=128`` (16 ms), ``n_mels=40``
  HTK-scale triangular filters from 0 to 4 kHz, ``n_frames=64``; values are
  ``log(mel power + 1e-6)`` (natural log, no per-sample normalisation).
* **image**: scikit-learn's bundled 8x8 digits (1797 images, intensities 0..16 kept).

Pairing rule (seeded by ``random_state``): for each digit the images of that class are
shuffled with ``numpy.random.default_rng(random_state)`` (digits in order 0..9) and cut
into six near-equal consecutive chunks, one per speaker in alphabetical order; a
speaker's takes 0..49 of that digit use the chunk's images in order, cycling when the
chunk is shorter than 50 (each image is used once or twice). Images therefore never
cross speakers, so a speaker-disjoint split is also image-disjoint.

Samples are ordered by digit, then speaker (alphabetical), then take; ``groups`` holds
the speaker id (0..5, alphabetical order, names in ``metadata["speakers"]``).

Checksums: on a cache miss every recording is read, and the SHA-256 of the
``sha256sum``-style listing of all 3000 files (sorted names) is checked against the
MANIFEST digest before anything is computed. The spectrograms are then cached under
:func:`dmil.data.registry.cache_dir` with a key made of that digest, a fingerprint of
the file names and sizes, and every spectrogram setting. A cached load only re-lists the
directory (file names and sizes, a few milliseconds) instead of re-reading and
re-hashing 21 MB in 3000 files: a missing, added or truncated recording changes the key
and forces the full check, while a same-size in-place edit of a recording is caught only
on the next cache miss (delete the cache directory to force one).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import wave
from pathlib import Path

import numpy as np
import torch

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import cache_key, load_cached, locate, save_cached, to_float32
from dmil.data.real.digits import DIGIT_CLASS_NAMES, digit_images
from dmil.data.registry import register_dataset
from dmil.utils import check_random_state

__all__ = [
    "FSDD_SPEAKERS",
    "fsdd_file_names",
    "load_av_digits",
    "log_mel_spectrogram",
    "mel_filterbank",
]

logger = logging.getLogger(__name__)

FSDD_DIR = "fsdd/recordings"
FSDD_SOURCE = "Jakobovski/free-spoken-digit-dataset@26eb9aaf/recordings/"
FSDD_DIGEST = "1801eae019c06337"
FSDD_SPEAKERS: tuple[str, ...] = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_TAKES = 50
SAMPLE_RATE = 8000
LOG_EPS = 1e-6
_CHUNK = 250


def fsdd_file_names() -> list[tuple[str, int, int, int]]:
    """The expected recordings in sample order.

    Returns
    -------
    list of (file name, digit, speaker id, take), ordered by digit, speaker, take.
    """
    return [
        (f"{d}_{s}_{t}.wav", d, g, t)
        for d in range(10)
        for g, s in enumerate(FSDD_SPEAKERS)
        for t in range(FSDD_TAKES)
    ]


def mel_filterbank(
    *, n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, ``mel = 2595 log10(1 + f / 700)``.

    Returns
    -------
    Tensor of shape (n_mels, n_fft // 2 + 1)
        Peak-1 triangles with centres equally spaced in mel between ``f_min`` and
        ``f_max`` (default ``sample_rate / 2``), evaluated at the FFT bin frequencies.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"mel_filterbank: need 0 <= f_min < f_max <= sample_rate/2, found "
            f"f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}."
        )
    mel_lo, mel_hi = (2595.0 * np.log10(1.0 + f / 700.0) for f in (f_min, f_max))
    hz = 700.0 * (10.0 ** (np.linspace(mel_lo, mel_hi, n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    empty = np.flatnonzero(weights.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"mel_filterbank: {empty.size} of {n_mels} mel filters fall between FFT bins "
            f"(n_fft={n_fft}); use fewer mel bands or a larger n_fft."
        )
    return torch.from_numpy(weights.astype(np.float32))


def log_mel_spectrogram(
    waveforms: torch.Tensor, *, n_fft: int, hop_length: int, filterbank: torch.Tensor
) -> torch.Tensor:
    """Log-mel power spectrograms of equal-length waveforms.

    Parameters
    ----------
    waveforms : Tensor of shape (B, L), float32
        ``L >= n_fft``; framed without padding, so ``T = 1 + (L - n_fft) // hop_length``.
    n_fft, hop_length : int
        Hann window length (= FFT size) and hop, in samples.
    filterbank : Tensor of shape (n_mels, n_fft // 2 + 1)
        From :func:`mel_filterbank`.

    Returns
    -------
    Tensor of shape (B, n_mels, T)
        ``log(filterbank @ |STFT|^2 + 1e-6)``.
    """
    window = torch.hann_window(n_fft, dtype=waveforms.dtype)
    spec = torch.stft(
        waveforms,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        window=window,
        center=False,
        return_complex=True,
    )  # (B, n_fft // 2 + 1, T)
    power = spec.real.square() + spec.imag.square()
    return torch.log(torch.matmul(filterbank, power) + LOG_EPS)


def _fix_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Centre ``samples`` in ``length``: zero-pad both sides or crop the middle."""
    n = samples.size
    if n >= length:
        start = (n - length) // 2
        return samples[start : start + length]
    out = np.zeros(length, dtype=samples.dtype)
    left = (length - n) // 2
    out[left : left + n] = samples
    return out


def _decode_wav(data: bytes, name: str) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as wav:
        fmt = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
        if fmt != (1, 2, SAMPLE_RATE):
            raise ValueError(
                f"av-digits: '{name}' is (channels, bytes per sample, rate) = {fmt}; "
                f"expected (1, 2, {SAMPLE_RATE})."
            )
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def _check_present(directory: Path, names: list[str]) -> list[int]:
    """Sizes in bytes of the recordings ``names``; all must be regular files."""
    with os.scandir(directory) as it:
        found = {e.name: e.stat().st_size for e in it if e.is_file()}
    missing = [n for n in names if n not in found]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise FileNotFoundError(
            f"dataset 'av-digits': {len(missing)} of {len(names)} recordings are missing "
            f"from {directory} (e.g. '{FSDD_DIR}/{missing[0]}'; missing: {shown}). Set the "
            "data directory with root=... or the DMIL_DATA_DIR environment variable."
        )
    return [found[n] for n in names]


def _spectrograms(
    directory: Path, names: list[str], *, n_fft: int, hop_length: int, n_mels: int, n_frames: int
) -> np.ndarray:
    """Verified, cached log-mel spectrograms of shape (len(names), n_mels, n_frames)."""
    sizes = _check_present(directory, names)
    listing = hashlib.sha256(
        "".join(f"{n} {s}\n" for n, s in zip(names, sizes, strict=True)).encode()
    ).hexdigest()[:16]
    key = cache_key(
        source=FSDD_DIGEST,
        listing=listing,
        sample_rate=SAMPLE_RATE,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        n_frames=n_frames,
        log_eps=LOG_EPS,
    )
    cached = load_cached("av-digits", key)
    if cached is not None and cached.get("spectrograms", np.empty(0)).shape == (
        len(names),
        n_mels,
        n_frames,
    ):
        return cached["spectrograms"]

    logger.info(
        "av-digits: reading and checking %d recordings in %s and computing their "
        "spectrograms (once: they are cached for later loads)",
        len(names),
        directory,
    )
    raw = {n: (directory / n).read_bytes() for n in names}
    listing_text = "".join(f"{hashlib.sha256(raw[n]).hexdigest()}  {n}\n" for n in sorted(raw))
    found = hashlib.sha256(listing_text.encode()).hexdigest()[: len(FSDD_DIGEST)]
    if found != FSDD_DIGEST:
        raise ValueError(
            f"dataset 'av-digits': checksum mismatch for the recordings in {directory}: "
            f"expected SHA-256 prefix {FSDD_DIGEST} of the sorted `sha256sum *.wav` listing, "
            f"found {found}. Some recording is damaged or different; restore the original "
            f"'{FSDD_DIR}' folder listed in MANIFEST.md."
        )
    length = n_fft + (n_frames - 1) * hop_length
    filterbank = mel_filterbank(n_fft=n_fft, n_mels=n_mels, sample_rate=SAMPLE_RATE)
    out = np.empty((len(names), n_mels, n_frames), dtype=np.float32)
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        waves = np.stack([_fix_length(_decode_wav(raw[n], n), length) for n in chunk])
        specs = log_mel_spectrogram(
            torch.from_numpy(waves), n_fft=n_fft, hop_length=hop_length, filterbank=filterbank
        )
        out[start : start + len(chunk)] = specs.numpy()
    save_cached("av-digits", key, {"spectrograms": out})
    return out


def _pair_images(
    digits: np.ndarray,
    speakers: np.ndarray,
    takes: np.ndarray,
    image_labels: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Index of the image paired with each recording (rule in the module docstring)."""
    index = np.empty(digits.size, dtype=np.int64)
    for d in range(10):
        pool = np.flatnonzero(image_labels == d)
        chunks = np.array_split(pool[rng.permutation(pool.size)], len(FSDD_SPEAKERS))
        for g, chunk in enumerate(chunks):
            rows = np.flatnonzero((digits == d) & (speakers == g))
            index[rows] = chunk[takes[rows] % chunk.size]
    return index


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key}: expected a positive integer, found {value!r}.")


@register_dataset(
    "av-digits",
    description="Audio-visual digits: FSDD spoken-digit log-mel spectrograms paired within "
    "class with 8x8 digit images; 6 speakers as groups (AV-MNIST style).",
    source=f"{FSDD_SOURCE} + scikit-learn bundled digits",
    needs_files=True,
)
def load_av_digits(
    *,
    root: Path,
    form: str = "2d",
    random_state: int = 0,
    n_mels: int = 40,
    n_frames: int = 64,
    n_fft: int = 256,
    hop_length: int = 128,
) -> MultimodalDataset:
    """Load the audio-visual digits.

    Parameters
    ----------
    root : Path
        The data directory (holding ``fsdd/recordings/``).
    form : {"2d", "flat"}
        ``"2d"``: ``image`` (N, 1, 8, 8) and ``audio`` (N, 1, n_mels, n_frames);
        ``"flat"``: the same values flattened row-major, (N, 64) and (N, n_mels * n_frames).
    random_state : int
        Seed of the image pairing rule.
    n_mels, n_frames, n_fft, hop_length : int
        Spectrogram settings (module docstring); each combination is cached separately.

    Returns
    -------
    MultimodalDataset
        N = 3000, float32 modalities ``image`` and ``audio``, labels 0..9, ``groups`` the
        speaker id 0..5.
    """
    if form not in ("2d", "flat"):
        raise ValueError(f"form: expected '2d' or 'flat', found {form!r}.")
    _check_positive(n_mels=n_mels, n_frames=n_frames, n_fft=n_fft, hop_length=hop_length)
    rng = check_random_state(random_state)
    directory = locate(root, FSDD_DIR, dataset="av-digits", directory=True)
    entries = fsdd_file_names()
    names = [e[0] for e in entries]
    digits, speakers, takes = (np.array([e[i] for e in entries]) for i in (1, 2, 3))
    specs = _spectrograms(
        directory, names, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, n_frames=n_frames
    )
    images, image_labels = digit_images()
    paired = images[_pair_images(digits, speakers, takes, image_labels, rng)]
    n = digits.size
    if form == "2d":
        image, audio = paired[:, None], specs[:, None]
    else:
        image, audio = paired.reshape(n, -1), specs.reshape(n, -1)
    return MultimodalDataset(
        {"image": to_float32(image, what="image"), "audio": to_float32(audio, what="audio")},
        digits.astype(np.int64),
        class_names=DIGIT_CLASS_NAMES,
        groups=speakers.astype(np.int64),
        name="av-digits",
        source=f"{FSDD_SOURCE} + scikit-learn bundled digits",
        metadata={
            "speakers": list(FSDD_SPEAKERS),
            "form": form,
            "spectrogram": {
                "sample_rate": SAMPLE_RATE,
                "n_fft": n_fft,
                "hop_length": hop_length,
                "n_mels": n_mels,
                "n_frames": n_frames,
                "log_eps": LOG_EPS,
            },
            "pairing_seed": random_state,
        },
    )
