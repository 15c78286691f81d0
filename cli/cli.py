"""The ``accord`` command line.

Each subcommand lives in its own module ``accord/cmd_<name>.py`` (folder
``cli/``) exposing ``add_parser(subparsers)``; the parser is built from them.
Exit codes: 0 ok, 1 failure or threshold not met, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import accord
from accord.core.errors import AccordError

logger = logging.getLogger("accord")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Order shown in --help; any other cmd_* module found is appended.
_ORDER = ("demo", "report", "resolve", "convert", "check", "acceptance", "cost", "label_studio", "cvat", "fiftyone",
          "serve")


def _command_modules() -> list[str]:
    found = {m.name[4:] for m in pkgutil.iter_modules(accord.__path__) if m.name.startswith("cmd_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug log output, and tracebacks for internal errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"accord.cmd_{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.INFO, logging.DEBUG)[min(args.verbose, 1)]
    if args.verbose:
        logger.setLevel(logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or EXIT_OK)
    except AccordError as e:
        print(f"accord: error: {e}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except OSError as e:
        print(f"accord: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("accord: interrupted", file=sys.stderr)  # noqa: T201
        return 130
    except Exception as e:
        logger.debug("internal error", exc_info=True)
        print(f"accord: internal error: {type(e).__name__}: {e} (run with -v for the traceback; "  # noqa: T201
              "please report it)", file=sys.stderr)
        return EXIT_FAILED
