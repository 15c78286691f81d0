"""The ``accord`` command line.

Each subcommand lives in its own module ``accord/cmd_<name>.py`` (folder
``cli/``) exposing ``add_parser(subparsers)``; the parser is built from them.
Exit codes: 0 ok, 1 failure or threshold not met, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import accord
from accord.core.errors import AccordError
from accord.core.limits import InputLimits, input_limits

from ._validate import float_in, int_at_least

logger = logging.getLogger("accord")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Order shown in --help; any other cmd_* module found is appended.
_ORDER = ("demo", "report", "resolve", "convert", "check", "acceptance", "cost", "label_studio", "cvat", "fiftyone",
          "serve", "ledger", "snapshot", "diff", "history", "runs")


def _command_modules() -> list[str]:
    found = {m.name[4:] for m in pkgutil.iter_modules(accord.__path__) if m.name.startswith("cmd_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where it says something: not for None, not for an on/off flag, not when the
    help already gives one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or isinstance(action, argparse._StoreTrueAction) or "default" in text.lower():
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """accord's parsers: errors in one line; ``-v``/``-q`` accepted after any subcommand too.

    Subcommand parsers are built with the parent's class, so each gets ``-v``/``-q``
    defaulting to "not given" (``SUPPRESS``): given there, they set the same names the
    top-level options do; not given, the top-level values stand.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("formatter_class") is argparse.ArgumentDefaultsHelpFormatter:
            kwargs["formatter_class"] = _DefaultsFormatter
        super().__init__(*args, **kwargs)
        self.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                          help="debug log output, and tracebacks for internal errors")
        self.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                          help="no progress bars or info logs")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    """Top-level ``--max-*`` options: the input size limits (:mod:`accord.core.limits`) for this run."""
    d = InputLimits()
    g = parser.add_argument_group("input size limits (before the subcommand; raise them for genuine large inputs)")
    g.add_argument("--max-zip-member-mb", type=int_at_least(1), default=None, metavar="MB",
                   help=f"most a zipped annotations.xml may inflate to (default {d.max_zip_member_bytes >> 20})")
    g.add_argument("--max-zip-ratio", type=float_in(1.0, 1e9), default=None, metavar="X",
                   help=f"most a zip member may inflate relative to its compressed size (default {d.max_zip_ratio:g})")
    g.add_argument("--max-polygon-points", type=int_at_least(3), default=None, metavar="N",
                   help=f"most vertices of one polygon that is compared (default {d.max_polygon_points})")
    g.add_argument("--max-image-pixels", type=int_at_least(1), default=None, metavar="N",
                   help=f"most pixels (height x width) of an image a polygon or mask is rasterized on "
                        f"(default {d.max_raster_pixels})")
    g.add_argument("--max-bootstrap", type=int_at_least(1), default=None, metavar="N",
                   help=f"most bootstrap resamples (--boot, [report] n_bootstrap) (default {d.max_bootstrap})")


def _limits_from(args: argparse.Namespace) -> dict[str, Any]:
    given = {"max_zip_member_bytes": getattr(args, "max_zip_member_mb", None),
             "max_zip_ratio": getattr(args, "max_zip_ratio", None),
             "max_polygon_points": getattr(args, "max_polygon_points", None),
             "max_raster_pixels": getattr(args, "max_image_pixels", None),
             "max_bootstrap": getattr(args, "max_bootstrap", None)}
    if given["max_zip_member_bytes"] is not None:
        given["max_zip_member_bytes"] <<= 20
    return {k: v for k, v in given.items() if v is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accord",
        description=(
            "Annotation QA for Label Studio, CVAT and FiftyOne: agreement between annotators, "
            "gold-standard scoring, error taxonomy, consensus, spot checks, label errors, "
            "bias monitoring and labeling cost."
        ),
        epilog="Run 'accord demo' to see a full QA report on the bundled sample project.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"accord {accord.__version__}")
    _add_limit_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"accord.cmd_{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", 0)
    args.quiet = getattr(args, "quiet", False)
    level = logging.WARNING if args.quiet else (logging.INFO, logging.DEBUG)[min(args.verbose, 1)]
    if args.verbose:
        logger.setLevel(logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    # A report holds hundreds of thousands of long-lived records: with CPython's default
    # thresholds the cyclic collector rescans them again and again (`accord report` on
    # benchmarks/bench_report_scale.py's 100k-annotation export: 19.1-22.4 s -> 15.4-15.9 s,
    # same figures, same peak memory). Restored afterwards for in-process callers.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        with input_limits(**_limits_from(args)):
            return int(args.func(args) or EXIT_OK)
    except AccordError as e:
        return _usage_error(str(e))
    except OSError as e:
        return _usage_error(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
    except UnicodeDecodeError as e:  # a reader that did not name its file
        return _usage_error(f"an input is not UTF-8 text: byte 0x{e.object[e.start]:02x} at offset {e.start}; "
                            "save it as UTF-8")
    except RecursionError:
        logger.debug("recursion error", exc_info=True)
        return _usage_error("an input is nested too deeply to read (e.g. JSON arrays inside arrays thousands "
                            "deep); check that the file is a real export")
    except MemoryError:
        return _usage_error("out of memory while reading the input; check that the files are real exports of "
                            "the expected size")
    except ValueError as e:  # bad data that reached a check without an AccordError of its own
        logger.debug("value error", exc_info=True)
        return _usage_error(f"invalid input: {e} (run with -v for the traceback)")
    except KeyboardInterrupt:
        print("accord: interrupted", file=sys.stderr)  # noqa: T201
        return 130
    except Exception as e:
        logger.debug("internal error", exc_info=True)
        print(f"accord: internal error: {type(e).__name__}: {e} (run with -v for the traceback; "  # noqa: T201
              "please report it)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        gc.set_threshold(*thresholds)


def _usage_error(message: str) -> int:
    """Print ``accord: error: <message>`` as one line on stderr; the usage/input exit code."""
    print(f"accord: error: {' '.join(message.split())}", file=sys.stderr)  # noqa: T201
    return EXIT_USAGE
