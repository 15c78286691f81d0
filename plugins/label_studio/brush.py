"""Label Studio's brush RLE codec (``"format": "rle"`` brush results).

Label Studio stores a brush mask as a bit-packed run-length code of the flat RGBA
image (``height * width * 4`` bytes, row-major), the scheme of label-studio-converter's
``brush.py`` (after the ``@thi.ng/rle-pack`` JavaScript package):

* 32 bits: the number of values (``height * width * 4``);
* 5 bits: word size minus 1 (8 for bytes);
* 4 x 4 bits: the four run-length field sizes minus 1 (e.g. 3, 4, 8, 16);
* then blocks: 1 bit "repeated", 2 bits choosing a length field size, that many bits
  for the block length minus 1, then one word (repeated block) or ``length`` words.

Bits are most significant first; the stream is padded with zeros to whole bytes.
A pixel belongs to the mask when its alpha byte is > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from accord.core.errors import ConversionError
from accord.core.limits import check_limit

_RLE_SIZES = (3, 4, 8, 16)


class _Bits:
    def __init__(self, data: bytes) -> None:
        arr = np.frombuffer(data, dtype=np.uint8)
        self.s = (np.unpackbits(arr) + 48).tobytes().decode("ascii")
        self.pos = 0

    def read(self, n: int) -> int:
        if self.pos + n > len(self.s):
            raise ConversionError(
                f"brush RLE stream ends early: wanted {n} bits at bit {self.pos}, the stream has "
                f"{len(self.s)}; the 'rle' list is truncated or not Label Studio brush RLE", field="value.rle")
        v = int(self.s[self.pos:self.pos + n], 2)
        self.pos += n
        return v

    def read_many(self, count: int, n: int) -> npt.NDArray[np.int64]:
        """``count`` consecutive ``n``-bit words, vectorized."""
        if self.pos + count * n > len(self.s):
            raise ConversionError(
                f"brush RLE stream ends early: wanted {count} words of {n} bits at bit {self.pos}, the stream has "
                f"{len(self.s)}; the 'rle' list is truncated or not Label Studio brush RLE", field="value.rle")
        chunk = np.frombuffer(self.s[self.pos:self.pos + count * n].encode("ascii"), dtype=np.uint8) - 48
        self.pos += count * n
        weights = 1 << np.arange(n - 1, -1, -1, dtype=np.int64)
        out: npt.NDArray[np.int64] = chunk.reshape(count, n).astype(np.int64) @ weights
        return out


def decode_brush_rle(rle: Sequence[int], height: int, width: int) -> npt.NDArray[np.bool_]:
    """Decode a Label Studio brush RLE into a ``(height, width)`` boolean mask (alpha > 0).

    Raises:
        ConversionError: the stream is truncated, its length is not ``height * width * 4``,
            or it holds values outside 0..255.
        LimitExceededError: the image is larger than ``max_raster_pixels`` (``accord --max-image-pixels``).
    """
    try:
        data = bytes(int(b) for b in rle)
    except (ValueError, TypeError) as e:
        raise ConversionError(f"brush 'rle' must be a list of bytes 0..255, got {str(rle)[:60]!r}: {e}",
                              field="value.rle") from e
    bits = _Bits(data)
    num = bits.read(32)
    if num != height * width * 4:
        raise ConversionError(
            f"brush RLE holds {num} values, expected height*width*4 = {height}*{width}*4 = "
            f"{height * width * 4}; check original_width/original_height", field="value.rle")
    check_limit("max_raster_pixels", height * width, f"the brush mask's image is {height}x{width} =", unit=" pixels")
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeated = bits.read(1)
        j = min(num, i + 1 + bits.read(sizes[bits.read(2)]))
        if repeated:
            out[i:j] = bits.read(word)
        else:
            out[i:j] = bits.read_many(j - i, word)
        i = j
    mask: npt.NDArray[np.bool_] = out.reshape(height, width, 4)[:, :, 3] > 0
    return mask


def encode_brush_rle(mask: npt.ArrayLike) -> list[int]:
    """Encode a 2-D boolean mask as Label Studio brush RLE (RGBA 255 inside, 0 outside)."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ConversionError(f"a brush mask must be 2-D (height, width), got shape {m.shape}")
    flat = np.repeat(m.ravel().astype(np.uint8) * 255, 4)
    parts = [f"{flat.size:032b}", f"{8 - 1:05b}", "".join(f"{s - 1:04b}" for s in _RLE_SIZES)]
    if flat.size:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [flat.size]))
        literal: list[int] = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s == 1:
                literal.append(int(flat[s]))
                continue
            _flush_literal(parts, literal)
            literal = []
            v = int(flat[s])
            while s < e:
                n = min(e - s, 1 << _RLE_SIZES[-1])
                parts.append("1" + _length_bits(n) + f"{v:08b}")
                s += n
        _flush_literal(parts, literal)
    bitstr = "".join(parts)
    bitstr += "0" * (-len(bitstr) % 8)
    return list(int(bitstr, 2).to_bytes(len(bitstr) // 8, "big"))


def _length_bits(n: int) -> str:
    for k, size in enumerate(_RLE_SIZES):
        if n - 1 < (1 << size):
            return f"{k:02b}" + format(n - 1, f"0{size}b")
    raise ConversionError(f"internal: block of {n} values exceeds the largest RLE field")  # pragma: no cover


def _flush_literal(parts: list[str], values: list[int]) -> None:
    for s in range(0, len(values), 1 << _RLE_SIZES[-1]):
        chunk = values[s:s + (1 << _RLE_SIZES[-1])]
        parts.append("0" + _length_bits(len(chunk)) + "".join(f"{v:08b}" for v in chunk))
