"""How the command line reports failures: one line, a fixed set of exit codes.

* ``2``: an expected failure -- bad input or settings, unreadable or corrupted files,
  I/O errors (disk full, read-only or inaccessible output), YAML syntax, memory, a
  device or precision torch cannot use, a diverged training run;
* ``1``: an unexpected internal error (``--debug`` shows its traceback);
* ``130``: interrupted with Ctrl-C; ``143``: terminated with SIGTERM.

Nothing here imports torch: the parser and these messages stay quick.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import NoReturn

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "OneLineArgumentParser",
    "describe_error",
    "one_line",
    "print_error",
    "resume_hint",
]

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: Longest message printed; the rest is cut (``--debug`` shows everything).
MAX_MESSAGE = 1200

_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another location",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.EACCES: "permission denied: check the permissions or choose another location",
    errno.EPERM: "operation not permitted: check the permissions or choose another location",
    errno.EISDIR: "a directory was given where a file is needed",
    errno.ENOTDIR: "a file was given where a directory is needed",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (exit code 2) that points to
    ``--help`` instead of printing the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):  # argparse's signature
        """As ``ArgumentParser.parse_args``, but an unknown flag after a subcommand is
        reported by that subcommand (``dmil explain: error: ... (see dmil explain
        --help)``), not by the top-level parser."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self._subcommand(parsed).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def _subcommand(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand ``parsed`` chose, or this one."""
        for action in self._actions:
            # argparse exposes no public accessor for the registered subparsers.
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None))
                if chosen is not None:
                    return chosen
        return self


def one_line(text: str) -> str:
    """Collapse a message onto one line (and cut it at :data:`MAX_MESSAGE` characters)."""
    joined = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    if len(joined) > MAX_MESSAGE:
        joined = joined[: MAX_MESSAGE - 40].rstrip() + " ... (--debug shows all)"
    return joined


def _os_error(exc: OSError) -> str:
    if exc.errno is None or not exc.strerror:
        return str(exc)
    text = exc.strerror
    if exc.filename is not None:
        text += f": {exc.filename}"
        if exc.filename2 is not None:
            text += f" -> {exc.filename2}"
    hint = _OS_HINTS.get(exc.errno)
    # A message dmil wrote itself already says what to do; the OS's own does not.
    if hint and exc.strerror == os.strerror(exc.errno):
        text += f" ({hint})"
    return text


def _yaml_error(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        where = "" if str(mark.name).startswith("<") else f"{mark.name}, "
        return (
            f"invalid YAML ({where}line {mark.line + 1}, column {mark.column + 1}): "
            f"{one_line(problem)}"
        )
    return f"invalid YAML: {one_line(str(exc))}"


def _runtime_error(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    low = first.lower()
    if "out of memory" in low:
        return f"out of device memory: {first} (use a smaller batch size or model)"
    if "meta" in low and "tensor" in low:
        return f"{first} (a meta tensor has a shape but no data; load real data)"
    if any(word in low for word in ("half", "bfloat16", "precision", "not implemented for")):
        return f"{first} (this precision is not supported here; try --precision 32-true)"
    if any(word in low for word in ("cuda", "device", "mps", "accelerator")):
        return f"{first} (check --device / --devices)"
    return first


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that ended a command."""
    try:
        import yaml

        yaml_error: type[BaseException] | tuple = yaml.YAMLError
    except ImportError:  # pragma: no cover - pyyaml is a dependency
        yaml_error = ()
    if isinstance(exc, KeyError):
        return one_line(exc.args[0] if exc.args else "missing key"), EXIT_USAGE
    if isinstance(exc, OSError):
        return one_line(_os_error(exc)), EXIT_USAGE
    if isinstance(exc, MemoryError):
        detail = f": {one_line(str(exc))}" if str(exc) else ""
        return (
            f"out of memory{detail}; use less data, a smaller batch size or a smaller model",
            EXIT_USAGE,
        )
    if yaml_error and isinstance(exc, yaml_error):
        return _yaml_error(exc), EXIT_USAGE
    if isinstance(exc, (ValueError, TypeError, FloatingPointError)):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, RuntimeError):
        return one_line(_runtime_error(exc)), EXIT_USAGE
    first = one_line(str(exc).splitlines()[0] if str(exc).strip() else "")
    return (
        f"internal error {type(exc).__name__}{': ' + first if first else ''} "
        "(rerun with `dmil --debug ...` for the traceback and please report it)",
        EXIT_INTERNAL,
    )


def resume_hint(command: str | None, out: str | None) -> str:
    """``"; continue with --resume"`` when ``out`` holds a run ``dmil train`` can continue."""
    if command == "train" and out and (Path(out) / "last.ckpt").is_file():
        return f"; continue it with `dmil train ... --out {out} --resume`"
    return ""


def print_error(command: str, message: str) -> None:
    """Print ``dmil <command>: error: <message>`` to stderr."""
    print(f"dmil {command}: error: {message}", file=sys.stderr)
