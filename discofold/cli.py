"""``discofold <verb>``: a thin command-line front end; each verb lives in discofold/commands/.

A verb module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` with ``run(args) -> int``.  No reconstruction logic lives here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import _limits
from ._progress import interval as progress_interval
from ._progress import override_interval
from ._version import __version__
from .errors import DiscofoldError

# Verb modules under discofold.commands, in the order ``--help`` lists them.
_VERBS: tuple[str, ...] = ("simulate", "recon", "models", "train", "eval", "report", "bench",
                           "demo")


def _verb_of(argv: list[str]) -> str | None:
    """The verb named in ``argv`` (the first word that is neither an option nor the value of
    ``--progress-s``), or None when there is none or it is not a verb."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--progress-s":
            skip = True
        elif not word.startswith("-"):
            return word if word in _VERBS else None
    return None


def build_parser(verbs: tuple[str, ...] = _VERBS) -> argparse.ArgumentParser:
    """The parser of ``discofold``, with the verbs ``verbs`` (all by default; :func:`main`
    imports only the module of the verb it runs, so that ``discofold models`` does not pay for
    importing torch and the simulators)."""
    parser = argparse.ArgumentParser(
        prog="discofold",
        description="Sparse MRI and radar reconstruction with resolution-agnostic, "
        "recursive deep-unfolding networks.",
    )
    parser.add_argument("--version", action="version", version=f"discofold {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    parser.add_argument(
        "--progress-s", type=float, default=None, metavar="S",
        help="outside a terminal, a progress line every S seconds (default: the environment "
        "variable DISCOFOLD_PROGRESS_S, else 10; 0: none)")
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for verb in verbs:
        importlib.import_module(f"discofold.commands.{verb}").register(sub)
    return parser


def _is_out_of_memory(exc: BaseException) -> bool:
    """A :class:`MemoryError` or torch's ``OutOfMemoryError`` (a ``RuntimeError``: CUDA or CPU
    allocator); torch is looked up only if already imported, as it then must be."""
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return isinstance(exc, MemoryError) or (oom is not None and isinstance(exc, oom))


def _os_message(exc: BaseException) -> str:
    """One line for an OSError (``strerror: 'file'``) or an out-of-memory error; newlines
    removed, torch's allocator advice cut short."""
    if _is_out_of_memory(exc):
        detail = str(exc).split(" See documentation for Memory Management")[0]
        detail = detail.split(" If reserved but unallocated memory is large")[0]
        text = f"out of memory ({detail[:300] or 'allocation failed'}); try a smaller problem " \
            "(batch, image size, model) or another device"
    elif isinstance(exc, OSError) and exc.strerror:
        names = [repr(str(n)) for n in (exc.filename, exc.filename2) if n is not None]
        text = f"{exc.strerror}: {' -> '.join(names)}" if names else exc.strerror
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    verb = _verb_of(words)
    parser = build_parser(_VERBS if verb is None else (verb,))
    args = parser.parse_args(words)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        with override_interval(args.progress_s), _limits.raised(dict(getattr(args, "limits", []))):
            progress_interval()  # a bad DISCOFOLD_PROGRESS_S fails before any work
            return int(args.func(args) or 0)
    except DiscofoldError as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split())  # always one line
        print(f"discofold {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:  # a user path or the machine, not a discofold bug
        if args.debug:
            raise
        print(f"discofold {args.verb}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if args.debug or not _is_out_of_memory(exc):  # torch's OutOfMemoryError: the machine
            raise
        print(f"discofold {args.verb}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"discofold {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
