"""TOML parsing and text decoding for accord's config files (stdlib ``tomllib``; ``tomli`` on Python 3.10)."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def decode_utf8(data: bytes, *, what: str, error: type[ValueError] = ConfigError) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark is dropped).

    Raises:
        ConfigError (or ``error``): a byte that is not UTF-8; the message names ``what``,
            the byte, its offset and its line, and says to save the file as UTF-8.

    Example:
        >>> decode_utf8(b"a = 1", what="x.toml")
        'a = 1'
        >>> decode_utf8(b"a = 'caf\\xe9'", what="x.toml")
        Traceback (most recent call last):
        ...
        accord.core.errors.ConfigError: x.toml is not UTF-8 text: byte 0xe9 at offset 8 (line 1); save it as UTF-8
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(f"{what} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} (line {line}); "
                    "save it as UTF-8") from None


def loads_toml(text: str | bytes, *, what: str) -> dict[str, Any]:
    """Parse TOML text (or UTF-8 bytes); every failure becomes a :class:`ConfigError` naming ``what``."""
    if isinstance(text, bytes):
        text = decode_utf8(text, what=what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} is not valid TOML: {e}") from e
    except RecursionError:
        raise ConfigError(f"{what} is not usable TOML: its arrays or tables are nested too deeply") from None
