"""Small helpers shared across the package.

* seeding: :func:`check_random_state`;
* files: :func:`atomic_path` (temporary file, then rename), :class:`OutputLayout` (what
  an ``--out`` may hold before a command replaces it, and the replacement), content digests
  (:func:`file_sha256`, :func:`record_sha256`, :func:`record_tree_sha256`,
  :func:`read_checksums`, :func:`merge_checksums`, :func:`verify_sha256`; a
  ``SHA256SUMS`` file per directory in the format ``sha256sum -c`` reads), free-space
  checks (:func:`check_free_space`, :func:`format_bytes`);
* run directories: :class:`RunLock`, an exclusive lock that keeps two runs out of one
  output directory;
* signals: :func:`raise_on_sigterm`, which turns SIGTERM into a :class:`Terminated`
  exception so that ``finally`` blocks and atomic writers clean up
  (:func:`check_terminated`), and :func:`signals_deferred`, which holds Ctrl-C and
  SIGTERM back while an output is being published;
* names: :func:`close_names` and :func:`did_you_mean`, the suggestions of error messages;
* JSON: :func:`to_jsonable` (NumPy values, NaN and paths to plain JSON types).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import glob
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHECKSUM_FILE",
    "LOCK_FILE",
    "OutputLayout",
    "RunDirectoryBusyError",
    "RunLock",
    "Terminated",
    "atomic_path",
    "check_free_space",
    "check_random_state",
    "check_terminated",
    "close_names",
    "did_you_mean",
    "file_sha256",
    "format_bytes",
    "merge_checksums",
    "raise_on_sigterm",
    "read_checksums",
    "record_sha256",
    "record_tree_sha256",
    "signals_deferred",
    "to_jsonable",
    "verify_sha256",
]

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None

#: Name of the per-directory digest file (``sha256sum -c SHA256SUMS`` checks it).
CHECKSUM_FILE = "SHA256SUMS"
#: Name of the lock file a run keeps in its output directory while it works.
LOCK_FILE = ".dmil.lock"
#: Environment variable through which processes launched by a run (DDP ranks) learn
#: that their parent holds the lock of the run directory.
_LOCK_ENV = "DMIL_RUN_LOCK"


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Resolve ``random_state`` into a NumPy generator.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        A seed, an existing generator (returned as is), or ``None`` for fresh entropy.
    """
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise TypeError(
        f"random_state must be an int, a numpy.random.Generator or None; "
        f"found {type(random_state).__name__}."
    )


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name is unique per call (``.<name>.<random>.tmp``), so concurrent
    writers never share one. A failure inside the block -- including an interruption by
    Ctrl-C or, under :func:`raise_on_sigterm`, SIGTERM -- removes the temporary file and
    leaves any existing ``path`` untouched, so partial results never overwrite good ones.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        # Signals are held back while the file is made and its name bound: one that
        # arrived inside mkstemp, after the file exists but before ``tmp`` is set, would
        # otherwise leave the file behind. Delivered at the block's end, it is handled
        # below like any other interruption.
        with signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600 files; give the result the usual permissions.
            tmp_path.chmod(0o666 & ~_current_umask())
        check_terminated()
        os.replace(tmp_path, target)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


#: Files an operating system's file browser leaves in a directory; never the user's work.
_OS_LITTER: frozenset[str] = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class OutputLayout:
    """What a command writes into its ``--out``, so that replacing an earlier output never
    deletes anything else. Every output holds a ``SHA256SUMS`` listing each of its files
    (:func:`record_tree_sha256`; ``sha256sum -c SHA256SUMS`` verifies them).

    Attributes
    ----------
    command : str
        The command, for messages (``"dmil run"``).
    what : str
        What it writes, for messages (``"a report"``).
    entries : tuple of str
        Every top-level file and directory name it may write (``SHA256SUMS`` besides).
    """

    command: str
    what: str
    entries: tuple[str, ...]

    def check(self, out: str | os.PathLike[str], *, overwrite: bool) -> None:
        """Refuse an ``--out`` the command must not write into or replace.

        Parameters
        ----------
        out : path
            The command's ``--out``.
        overwrite : bool
            Whether ``--overwrite`` was given.

        Raises
        ------
        FileExistsError
            When ``out`` is a file; holds something that is not an earlier output of the
            command (a top-level name it does not write, no ``SHA256SUMS``, or a file,
            at any depth, that its ``SHA256SUMS`` does not list; file-browser litter such
            as ``.DS_Store`` aside), since replacing ``out`` would delete it; or holds an
            earlier output and ``overwrite`` is false. The message names the entries and
            the fix.
        """
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"--out {out} exists and is not a directory.")
        entries = (
            sorted(p.name for p in out.iterdir() if p.name not in _OS_LITTER)
            if out.is_dir()
            else []
        )
        if not entries:
            return
        foreign = [name for name in entries if name not in (*self.entries, CHECKSUM_FILE)]
        if not foreign and CHECKSUM_FILE not in entries:
            raise FileExistsError(
                f"--out {out} holds {', '.join(entries)} but no {CHECKSUM_FILE}, where "
                f"`{self.command}` lists the files it wrote (outputs of older versions have "
                "none), so none of them can be told from yours; delete the directory yourself "
                "or choose another --out."
            )
        if not foreign:
            listed = set(read_checksums(out)) | {CHECKSUM_FILE}
            files = (p for p in out.rglob("*") if p.is_file() and p.name not in _OS_LITTER)
            foreign = sorted(n for p in files if (n := p.relative_to(out).as_posix()) not in listed)
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise FileExistsError(
                f"--out {out} holds files that `{self.command}` did not write ({shown}); it "
                f"replaces only {self.what}, so move them or choose another --out."
            )
        if not overwrite:
            raise FileExistsError(
                f"--out {out} already holds {self.what}; pass --overwrite to replace it or "
                "choose another --out."
            )

    def staging(self, out: str | os.PathLike[str]) -> Path:
        """A new, empty directory beside ``out`` to write the output into.

        Named ``.<out name>.<command>-<pid>.tmp``; such directories of earlier runs into
        the same ``out`` whose process is gone (killed before it could clean up) are
        removed first.
        """
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{out.name}.{self.command.replace(' ', '-')}-"
        for path in out.parent.glob(f"{glob.escape(prefix)}*.tmp"):
            pid = path.name[len(prefix) : -len(".tmp")]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
        tmp = out.with_name(f"{prefix}{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return tmp

    def publish(
        self, tmp: str | os.PathLike[str], out: str | os.PathLike[str], *, overwrite: bool
    ) -> Path:
        """Move a finished output ``tmp`` onto ``out``, replacing an earlier one.

        ``tmp`` gets its ``SHA256SUMS`` (:func:`record_tree_sha256`), then :meth:`check`
        runs again, since files may have arrived in ``out`` while the command ran.

        Parameters
        ----------
        tmp : path
            The finished output, beside ``out``.
        out : path
            Where it goes.
        overwrite : bool
            Whether ``--overwrite`` was given.

        Returns
        -------
        Path
            ``out``.

        Raises
        ------
        FileExistsError
            From :meth:`check`; ``tmp`` is then kept as ``<out>.new-<pid>`` and the
            message says so, so the finished work is not lost.
        """
        tmp, out = Path(tmp), Path(out)
        record_tree_sha256(tmp)
        try:
            self.check(out, overwrite=overwrite)
        except FileExistsError as exc:
            kept = out.with_name(f"{out.name}.new-{os.getpid()}")
            os.replace(tmp, kept)
            raise FileExistsError(f"{exc} The finished output is kept in {kept}.") from None
        os.chmod(tmp, 0o777 & ~_current_umask())
        old = None
        try:
            with signals_deferred():  # never between the two renames
                if out.exists():
                    old = out.with_name(f".{out.name}.old-{os.getpid()}.tmp")
                    os.replace(out, old)
                os.replace(tmp, out)
        finally:  # a signal held back above is raised here: the old output goes anyway
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return out


# ---------------------------------------------------------------------- digests
def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as 64 hexadecimal digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(directory: str | os.PathLike[str]) -> dict[str, str]:
    """The ``{file name: sha256}`` entries of ``directory/SHA256SUMS`` (empty if none)."""
    manifest = Path(directory) / CHECKSUM_FILE
    if not manifest.is_file():
        return {}
    entries: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ValueError(
                f"{manifest}, line {number}: expected '<sha256>  <file name>', found {line!r}. "
                f"Delete {manifest} to stop verifying the files it lists."
            )
        entries[name.lstrip("*")] = digest.lower()
    return entries


def _write_checksums(directory: Path, entries: Mapping[str, str]) -> None:
    with atomic_path(directory / CHECKSUM_FILE) as tmp:
        tmp.write_text("".join(f"{entries[n]}  {n}\n" for n in sorted(entries)))


def record_sha256(*paths: str | os.PathLike[str]) -> None:
    """Record the digests of files in their directory's ``SHA256SUMS``.

    Entries of other files are kept; the manifest itself is replaced atomically. All
    ``paths`` must lie in one directory. Missing files are skipped.
    """
    files = [Path(p) for p in paths if Path(p).is_file()]
    if not files:
        return
    directory = files[0].parent
    if any(f.parent != directory for f in files):
        raise ValueError(f"record_sha256: files must share one directory, found {files}.")
    entries = read_checksums(directory)
    entries.update({f.name: file_sha256(f) for f in files})
    _write_checksums(directory, entries)


def record_tree_sha256(directory: str | os.PathLike[str]) -> Path:
    """Write ``directory/SHA256SUMS`` listing every file below ``directory`` by its
    relative path (subdirectories' own ``SHA256SUMS`` files included), replacing any
    earlier one; returns its path."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p != root / CHECKSUM_FILE)
    _write_checksums(root, {p.relative_to(root).as_posix(): file_sha256(p) for p in files})
    return root / CHECKSUM_FILE


def merge_checksums(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    replaced: Iterable[str] = (),
) -> None:
    """Add the entries of ``source/SHA256SUMS`` to ``target/SHA256SUMS`` (same names win
    from ``source``) and remove the source manifest.

    Parameters
    ----------
    source, target : path
        The directories whose manifests are merged.
    replaced : iterable of str
        Names whose entries in ``target`` are dropped first (the files an output replaces,
        so that one it no longer writes is no longer listed).
    """
    src, dst = Path(source), Path(target)
    entries = read_checksums(src)
    (src / CHECKSUM_FILE).unlink(missing_ok=True)
    dropped = set(replaced)
    merged = {n: d for n, d in read_checksums(dst).items() if n not in dropped}
    merged.update(entries)
    if merged or (dst / CHECKSUM_FILE).exists():
        _write_checksums(dst, merged)


def verify_sha256(path: str | os.PathLike[str]) -> bool:
    """Check a file against the digest recorded in its directory's ``SHA256SUMS``.

    Returns
    -------
    bool
        ``True`` when a recorded digest matched, ``False`` when none is recorded.

    Raises
    ------
    ValueError
        When the file's content differs from what was recorded.
    """
    file = Path(path)
    expected = read_checksums(file.parent).get(file.name)
    if expected is None:
        return False
    found = file_sha256(file)
    if found != expected:
        raise ValueError(
            f"{file} is corrupted or was changed after dmil wrote it: its SHA-256 is "
            f"{found[:16]}..., {file.parent / CHECKSUM_FILE} records {expected[:16]}.... "
            "Re-create it (rerun the command that wrote it)."
        )
    return True


# ------------------------------------------------------------------ disk space
def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_free_space(
    directory: str | os.PathLike[str], needed: int, *, what: str = "--out", why: str = ""
) -> None:
    """Raise ``OSError(ENOSPC)`` unless the file system of ``directory`` has ``needed``
    bytes free (``why`` says what needs them)."""
    probe = Path(directory).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"not enough free space for {what} {directory}: {format_bytes(free)} free, "
            f"about {format_bytes(needed)} needed{f' ({why})' if why else ''}. Free some "
            f"space or choose another {what}.",
        )


# ----------------------------------------------------------------- run lock
class RunDirectoryBusyError(RuntimeError):
    """Another live process holds the lock of the output directory."""


#: Locks held by this process: resolved directory -> [lock, nesting depth].
_HELD: dict[str, list[Any]] = {}


class RunLock:
    """An exclusive lock on an output directory, held while a run works in it.

    The lock is an ``fcntl.flock`` on ``<directory>/.dmil.lock``, which records the
    holder's pid, host, command and start time. A second run into the same directory
    fails at once with :class:`RunDirectoryBusyError` naming the holder. The kernel
    releases the lock when the holder dies, however it dies, so a marker left by a
    killed run is taken over by the next one. The lock file is removed on release, and
    so is the directory when this lock created it and nothing else was written there.

    Locks are re-entrant within a process (the command line and the library it calls
    may both take it), and processes started by the holder for distributed training
    (which inherit ``DMIL_RUN_LOCK``) share the parent's lock.

    Parameters
    ----------
    directory : path
        The output directory (created if missing).
    command : str
        What the holder is doing, for the message another run shows.
    what : str
        How messages name the directory (e.g. ``"--out"``).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, command: str = "dmil", what: str = "--out"
    ) -> None:
        self.directory = Path(directory)
        self.command = command
        self.what = what
        self._fd: int | None = None
        self._created: list[Path] = []
        self._key = ""
        self._env_before: str | None = None
        self._borrowed = False

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.directory / LOCK_FILE

    # -------------------------------------------------------------- acquire
    def acquire(self) -> RunLock:
        """Take the lock (creating the directory if needed); raise if it is taken."""
        d = self.directory
        if d.exists() and not d.is_dir():
            raise FileExistsError(f"{self.what} {d} exists and is not a directory.")
        missing = []
        probe = d.absolute()
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        d.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first
        self._key = str(d.resolve())
        held = _HELD.get(self._key)
        if held is not None:
            held[1] += 1
            self._created = []
            return self
        if os.environ.get(_LOCK_ENV) == f"{self._key}:{os.getppid()}":
            # Launched by the holder (a DDP rank): the parent's lock covers this process.
            self._borrowed = True
            _HELD[self._key] = [self, 1]
            return self
        try:
            self._fd = self._lock_file()
        except BaseException:
            self._remove_created()
            raise
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, (json.dumps(info) + "\n").encode())
        except BaseException:  # e.g. a full disk: give everything back, then report it
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None
            self._remove_created()
            raise
        self._env_before = os.environ.get(_LOCK_ENV)
        os.environ[_LOCK_ENV] = f"{self._key}:{os.getpid()}"
        _HELD[self._key] = [self, 1]
        return self

    def _lock_file(self) -> int:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunDirectoryBusyError(self._busy_message()) from None
            except BaseException:
                os.close(fd)
                raise
            # The holder we waited for may have removed the file on release: then the
            # lock is on an orphaned inode and the file must be opened again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _busy_message(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if info:
            holder = (
                f"pid {info.get('pid', '?')} on {info.get('host', '?')}, "
                f"`{info.get('command', '?')}`, started {info.get('started', '?')}"
            )
        else:
            holder = "it is just starting"
        return (
            f"{self.what} {self.directory} is in use by another dmil run ({holder}); wait "
            f"for it to finish or choose another {self.what}."
        )

    # -------------------------------------------------------------- release
    def release(self) -> None:
        """Release the lock (the outermost release removes the lock file)."""
        held = _HELD.get(self._key)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[self._key]
        held[0]._close()

    def _close(self) -> None:
        if self._borrowed:
            return
        if self._fd is not None:
            # Unlink while still holding the lock: a waiter that opened the old file
            # notices the unlink after it gets the lock and opens the new one.
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None
        if self._env_before is None:
            os.environ.pop(_LOCK_ENV, None)
        else:
            os.environ[_LOCK_ENV] = self._env_before
        self._remove_created()

    def _remove_created(self) -> None:
        for path in self._created:  # deepest first; stops at the first non-empty one
            try:
                path.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ------------------------------------------------------------------- signals
class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM.

    A ``BaseException`` (like ``KeyboardInterrupt``), so ``except Exception`` handlers do
    not swallow it while ``finally`` blocks and atomic writers still clean up.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


#: Signals received under :func:`raise_on_sigterm` (their exception may have been
#: swallowed by library code that catches everything).
_RECEIVED: list[int] = []


def check_terminated() -> None:
    """Raise :class:`Terminated` when SIGTERM arrived under :func:`raise_on_sigterm`.

    The handler raises at once; this second check, made before results are committed
    (renamed into place), catches the rare case where library code swallowed that
    exception, so a terminated run never publishes results.
    """
    if _RECEIVED:
        raise Terminated(_RECEIVED[0])


@contextlib.contextmanager
def raise_on_sigterm(signals: Iterable[int] = (signal.SIGTERM,)) -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    Outside the main thread (where handlers cannot be installed) this does nothing. The
    previous handlers are restored on exit; a signal whose exception was swallowed
    inside the block is raised when the block ends.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        _RECEIVED.append(signum)
        raise Terminated(signum)

    _RECEIVED.clear()
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
        check_terminated()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _RECEIVED.clear()


@contextlib.contextmanager
def signals_deferred(signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, hold back ``signals`` (Ctrl-C and SIGTERM by default); one that
    arrives is delivered to its usual handler when the block ends.

    For the few renames that publish an output: an interruption between them would leave
    a mix of old and new files. Outside the main thread (where handlers cannot be
    installed) this does nothing.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)


# ------------------------------------------------------------------- JSON
def to_jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars to Python numbers, NaN/Inf to ``None``, tuples to
    lists, paths to strings."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------- names
#: Names users often write for a setting, and the setting's name here.
_ALIASES: dict[str, str] = {
    "learning-rate": "lr",
    "learningrate": "lr",
    "num-epochs": "epochs",
    "n-epochs": "epochs",
    "max-epochs": "epochs",
    "batchsize": "batch_size",
    "wd": "weight_decay",
    "early-stopping": "patience",
    "optim": "optimizer",
    "device": "accelerator",
}


def close_names(name: object, known: Iterable[str], *, n: int = 2) -> list[str]:
    """The ``known`` names closest to ``name``: compared without case and with ``_`` as
    ``-`` (``difflib``), plus the setting a common alias stands for (``learning_rate``
    -> ``lr``)."""
    import difflib

    key = str(name).lower().replace("_", "-")
    choices = {str(k).lower().replace("_", "-"): str(k) for k in known}
    if key in choices:
        return [choices[key]]
    close = [choices[c] for c in difflib.get_close_matches(key, list(choices), n=n, cutoff=0.6)]
    alias = _ALIASES.get(key, "").replace("_", "-")
    if alias in choices and choices[alias] not in close:
        close = [choices[alias], *close][:n]
    return close


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """``" Did you mean 'joint'?"`` for the closest of ``known`` names
    (:func:`close_names`), or ``""`` when none is close; append it to an "unknown name"
    message."""
    close = close_names(name, known)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
