"""``accord fiftyone``: install accord's FiftyOne plugin into FiftyOne's plugins directory."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Literal

from accord.core._toml import decode_utf8
from accord.core.errors import ConfigError

logger = logging.getLogger(__name__)

#: Folder name of the plugin inside FiftyOne's plugins directory.
PLUGIN_DIRNAME = "accord-fiftyone"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fiftyone",
        help="install accord's FiftyOne plugin (operators and QA panel)",
        description="Manage accord's FiftyOne plugin.",
    )
    fsub = p.add_subparsers(dest="fiftyone_command", metavar="SUBCOMMAND")
    inst = fsub.add_parser(
        "install",
        help="link or copy the plugin into FiftyOne's plugins directory",
        description=(
            "Link (default) or copy accord's FiftyOne plugin folder into FiftyOne's plugins "
            "directory: --dir, else $FIFTYONE_PLUGINS_DIR, else plugins_dir in "
            "~/.fiftyone/config.json, else ~/fiftyone/__plugins__. Restart the App afterwards."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    inst.add_argument("--dir", type=Path, default=None, help="FiftyOne plugins directory")
    inst.add_argument("--mode", choices=("link", "copy"), default="link",
                      help="symlink to the installed package, or copy the files")
    inst.add_argument("--force", action="store_true", help="replace an existing install")
    inst.set_defaults(func=run_install)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def plugin_source() -> Path:
    """The plugin folder shipped with accord (holds ``fiftyone.yml``); importing it is not needed."""
    src = Path(str(resources.files("accord.plugins") / "fiftyone"))
    if not (src / "fiftyone.yml").is_file():
        raise ConfigError(f"accord's FiftyOne plugin is incomplete: no fiftyone.yml in {src}; reinstall accord")
    return src


def plugins_dir(explicit: Path | None = None) -> Path:
    """Where FiftyOne looks for plugins, resolved as FiftyOne does (without importing it)."""
    if explicit is not None:
        return explicit.expanduser()
    env = os.environ.get("FIFTYONE_PLUGINS_DIR")
    if env:
        return Path(env).expanduser()
    cfg = Path(os.environ.get("FIFTYONE_CONFIG_PATH", "~/.fiftyone/config.json")).expanduser()
    if cfg.is_file():
        try:
            value = json.loads(decode_utf8(cfg.read_bytes(), what=f"FiftyOne config {cfg}")).get("plugins_dir")
        except (json.JSONDecodeError, RecursionError, AttributeError) as e:
            raise ConfigError(f"FiftyOne config {cfg} is not a JSON object: {e}; fix it or pass --dir") from e
        if value:
            return Path(value).expanduser()
    return Path("~/fiftyone/__plugins__").expanduser()


def install(target_dir: Path, *, mode: Literal["link", "copy"] = "link", force: bool = False) -> Path:
    """Link or copy the plugin folder to ``target_dir/accord-fiftyone``; returns that path.

    Raises:
        ConfigError: If something is already there and ``force`` is false.
    """
    src = plugin_source()
    target_dir.mkdir(parents=True, exist_ok=True)
    dest = target_dir / PLUGIN_DIRNAME
    if dest.is_symlink() or dest.exists():
        if not force:
            raise ConfigError(f"{dest} already exists; pass --force to replace it")
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        else:
            shutil.rmtree(dest)
    if mode == "link":
        dest.symlink_to(src.resolve(), target_is_directory=True)
    else:
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def run_install(args: argparse.Namespace) -> int:
    dest = install(plugins_dir(args.dir), mode=args.mode, force=args.force)
    verb = "linked" if args.mode == "link" else "copied"
    print(f"accord FiftyOne plugin {verb} to {dest}; restart the FiftyOne App to load it")  # noqa: T201
    return 0
