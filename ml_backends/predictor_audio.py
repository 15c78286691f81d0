"""Audio pre-annotation offline: voice activity, speaker turns and (with a user's model) transcripts.

Everything here is numpy/scipy, deterministic and needs no download.

**Voice activity** (:class:`EnergyVad`, registered as ``vad``). The signal is cut in frames
of ``frame_s`` (25 ms) every ``hop_s`` (10 ms). A frame is *speech* when both

* its energy (dB, mean square) is above ``min(noise_floor + margin_db, peak - peak_range_db)``,
  where the noise floor is the 10th percentile of the frame energies and the peak their
  99th percentile (so a recording that is speech throughout still passes), and never under
  ``abs_floor_db`` (-70 dB full scale); and
* its spectral flatness (geometric over arithmetic mean of the power spectrum between
  80 Hz and 4 kHz, 0 for a pure tone, about 0.56 for white noise) is at most
  ``max_flatness`` (0.35): voiced speech is harmonic, broadband noise bursts are not.

Runs of speech frames are then smoothed offline: a pause shorter than ``hangover_s``
(0.2 s) inside speech is bridged (the *hangover*, looking back as an offline detector
can, so a segment still ends at its last speech frame instead of ``hangover_s`` later),
and a segment shorter than ``min_speech_s`` (0.15 s) is dropped. A segment of frames
``a..b`` spans ``[a * hop + (frame - hop) / 2, b * hop + (frame + hop) / 2]`` seconds
(frame centres +- half a hop). Its score is the fraction of its frames that are speech
(bridged pauses lower it). webrtcvad is not used: it is not installed here.

**Voice activity from a user's silero-vad model** (:class:`SileroVad`, ``vad`` with
``vad_model=PATH``): the ONNX file silero-vad ships (v5: inputs ``input``, ``state``, ``sr``; MIT
licence), run with onnxruntime (``pip install onnxruntime``) on 32 ms windows at 16 kHz (audio at
other rates is resampled with :func:`scipy.signal.resample_poly`), each window with the previous
64 samples as context, as silero's own ``OnnxWrapper`` does. Windows are speech from a
probability of ``threshold`` (0.5) on and stay speech while it is at least ``threshold - 0.15``
(silero's ``get_speech_timestamps`` hysteresis); pauses under ``min_silence_s`` (0.1 s) are
bridged, segments under ``min_speech_s`` (0.25 s) dropped, and each kept segment is padded by
``pad_s`` (0.03 s). A segment's score is its mean speech probability. Nothing is downloaded: a
missing file or a missing onnxruntime is a one-line error that says what to do.

**Speaker turns** (:class:`SpeakerTurns`, ``speaker-turns``). MFCCs (:func:`mfcc`: pre-emphasis
0.97, Hann window, 26 mel filters, log, DCT-II, coefficients 1..12) of the speech frames are
pooled into windows of ``window_s`` (0.5 s, hop 0.25 s; mean and standard deviation),
z-scored and clustered with Ward's agglomerative linkage (:func:`scipy.cluster.hierarchy.linkage`)
into ``num_speakers`` clusters, or, when that is not given, the number up to ``max_speakers``
after which merging costs most (the largest ratio between successive merge heights, at
least ``split_ratio``; else one speaker). Every speech frame then goes to the nearest
cluster centroid in MFCC space, the labels are smoothed by a majority vote over
``smooth_s`` (0.3 s); a cluster with under ``min_speaker_s`` (1 s) of frames is dissolved
into the others and a turn shorter than ``min_turn_s`` (0.3 s) inside a speech run joins
its longer neighbour. Runs of one speaker become turns labelled ``speaker_1``,
``speaker_2``, ... in order of first appearance (or the names given in ``speakers``).
A turn's score is its mean vote share.

**Transcripts** (:class:`Transcriber`, ``transcribe``): a user-supplied model only (``asr_model=PATH``,
a Vosk model folder, needs ``pip install vosk``); without one, building it raises a one-line
:class:`~accord.core.errors.BadPredictorError` that says what to pass.

:func:`read_wav` reads WAV bytes or a path with :mod:`scipy.io.wavfile`;
:func:`segments_to_jsonl` writes accord JSONL :class:`~accord.core.model.Segment` records.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.io import wavfile

from accord.core.errors import AccordError, BadPredictorError, MissingExtraError
from accord.core.model import Record, Segment

from .predictor_spec import LabelInfo, SegmentPrediction

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "EnergyVad",
    "SileroVad",
    "SpeakerTurns",
    "Transcriber",
    "asr_from_params",
    "frame_features",
    "mfcc",
    "read_wav",
    "segments_to_jsonl",
    "speaker_turns_from_params",
    "vad_from_params",
]

#: Largest WAV accepted (samples per channel): one hour at 48 kHz.
MAX_SAMPLES = 48_000 * 3600


def read_wav(source: bytes | str | os.PathLike[str]) -> tuple[FloatArray, int]:
    """Mono float samples in ``[-1, 1]`` and the sample rate of a WAV file (bytes or a path).

    Integer PCM is scaled by its full range (8-bit is unsigned, centred on 128); float WAV is
    kept; several channels are averaged.

    Raises:
        AccordError: not a WAV file, empty, or longer than :data:`MAX_SAMPLES`.
    """
    try:
        f: Any = io.BytesIO(source) if isinstance(source, bytes | bytearray) else os.fspath(source)
        rate, data = wavfile.read(f)
    except (ValueError, OSError, EOFError) as e:
        raise AccordError(f"expected a PCM WAV file (RIFF/WAVE), could not read it ({str(e)[:80]}); "
                          "convert the audio to WAV, e.g. with: ffmpeg -i in.mp3 out.wav") from None
    a = np.asarray(data)
    if a.size == 0 or rate <= 0:
        raise AccordError("the WAV file has no samples; check the recording")
    if a.dtype == np.uint8:
        x = (a.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float64) / float(-np.iinfo(a.dtype).min)
    else:
        x = a.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.shape[0] > MAX_SAMPLES:
        raise AccordError(f"the WAV file has {x.shape[0]} samples, more than {MAX_SAMPLES}; split it")
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), int(rate)


def _check_audio(samples: Any, sample_rate: Any) -> FloatArray:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or not sample_rate >= 1000:
        raise AccordError(f"expected a sample rate in Hz (an integer >= 1000), got {sample_rate!r}")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise AccordError(f"expected mono audio as a non-empty 1-D array of finite samples, got shape "
                          f"{getattr(x, 'shape', None)}; average the channels first (read_wav does)")
    return x


def _frames(x: FloatArray, win: int, hop: int) -> FloatArray:
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    n = 1 + (x.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def _power_spectrum(frames: FloatArray) -> tuple[FloatArray, int]:
    win = frames.shape[1]
    nfft = 1 << max(8, (win - 1).bit_length())
    spec = np.abs(np.fft.rfft(frames * np.hanning(win)[None, :], n=nfft, axis=1)) ** 2
    return np.asarray(spec, dtype=np.float64), nfft


def frame_features(samples: FloatArray, sample_rate: int, *, frame_s: float = 0.025, hop_s: float = 0.010
                   ) -> tuple[FloatArray, FloatArray]:
    """Per-frame energy (dB full scale) and spectral flatness (80 Hz - 4 kHz) of mono samples."""
    x = _check_audio(samples, sample_rate)
    win, hop = max(1, round(frame_s * sample_rate)), max(1, round(hop_s * sample_rate))
    fr = _frames(x, win, hop)
    energy_db = 10.0 * np.log10(np.mean(fr ** 2, axis=1) + 1e-12)
    spec, nfft = _power_spectrum(fr)
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    band = spec[:, (freqs >= 80.0) & (freqs <= min(4000.0, sample_rate / 2))] + 1e-20
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return energy_db, np.asarray(flatness, dtype=np.float64)


def _mel_filters(n_mels: int, nfft: int, sample_rate: int, fmin: float, fmax: float) -> FloatArray:
    def mel(f: FloatArray | float) -> Any:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m: FloatArray) -> FloatArray:
        return np.asarray(700.0 * (10.0 ** (m / 2595.0) - 1.0), dtype=np.float64)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    return np.asarray(np.clip(np.minimum(up, down), 0.0, None), dtype=np.float64)


def mfcc(samples: FloatArray, sample_rate: int, *, frame_s: float = 0.025, hop_s: float = 0.010,
         n_mels: int = 26, n_coeffs: int = 13) -> FloatArray:
    """Mel-frequency cepstral coefficients, ``n_frames x n_coeffs`` (coefficient 0 first).

    Pre-emphasis ``x[t] - 0.97 x[t-1]``, Hann-windowed frames, power spectrum, ``n_mels``
    triangular mel filters from 20 Hz to ``min(8 kHz, Nyquist)``, natural log, orthonormal
    DCT-II (the HTK/``python_speech_features`` recipe without liftering).
    """
    x = _check_audio(samples, sample_rate)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    win, hop = max(1, round(frame_s * sample_rate)), max(1, round(hop_s * sample_rate))
    spec, nfft = _power_spectrum(_frames(x, win, hop))
    fb = _mel_filters(n_mels, nfft, sample_rate, 20.0, min(8000.0, sample_rate / 2))
    logmel = np.log(spec @ fb.T + 1e-10)
    out = sfft.dct(logmel, type=2, axis=1, norm="ortho")[:, :n_coeffs]
    return np.asarray(out, dtype=np.float64)


def _runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` index runs where ``flags`` is true."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0] - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _positive(name: str, v: Any, *, zero: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise BadPredictorError(f"{name} must be a number, got {v!r}") from None
    if not math.isfinite(f) or f < 0 or (f == 0 and not zero):
        raise BadPredictorError(f"{name} must be a finite number {'>=' if zero else '>'} 0, got {v!r}")
    return f


class EnergyVad:
    """Voice activity from frame energy and spectral flatness (module docstring); labels ``speech``.

    Example:
        >>> sr = 16000
        >>> t = np.arange(sr) / sr
        >>> x = np.where((t >= 0.3) & (t < 0.7), 0.5 * np.sin(2 * np.pi * 200 * t), 0.0)
        >>> [(round(s.start, 2), round(s.end, 2)) for s in EnergyVad().predict_audio(x, sr)]
        [(0.29, 0.71)]
    """

    modality: Literal["audio"] = "audio"

    def __init__(self, *, label: str = "speech", frame_s: float = 0.025, hop_s: float = 0.010,
                 margin_db: float = 12.0, peak_range_db: float = 30.0, abs_floor_db: float = -70.0,
                 max_flatness: float = 0.35, hangover_s: float = 0.2, min_speech_s: float = 0.15) -> None:
        if not isinstance(label, str) or not label:
            raise BadPredictorError(f"label must be a non-empty string, got {label!r}")
        self.label = label
        self.frame_s = _positive("frame_s", frame_s)
        self.hop_s = _positive("hop_s", hop_s)
        if self.hop_s > self.frame_s:
            raise BadPredictorError(f"hop_s ({hop_s!r}) must not exceed frame_s ({frame_s!r})")
        self.margin_db = _positive("margin_db", margin_db, zero=True)
        self.peak_range_db = _positive("peak_range_db", peak_range_db, zero=True)
        self.abs_floor_db = float(abs_floor_db)
        self.max_flatness = _positive("max_flatness", max_flatness)
        self.hangover_s = _positive("hangover_s", hangover_s, zero=True)
        self.min_speech_s = _positive("min_speech_s", min_speech_s, zero=True)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="segment"),)

    def speech_frames(self, samples: FloatArray, sample_rate: int) -> npt.NDArray[np.bool_]:
        """The per-frame speech decision after smoothing (one flag per ``hop_s`` frame)."""
        return self._decide(samples, sample_rate)[1]

    def _decide(self, samples: FloatArray, sample_rate: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Raw and smoothed per-frame speech flags."""
        energy, flatness = frame_features(samples, sample_rate, frame_s=self.frame_s, hop_s=self.hop_s)
        floor, peak = float(np.percentile(energy, 10)), float(np.percentile(energy, 99))
        threshold = max(min(floor + self.margin_db, peak - self.peak_range_db), self.abs_floor_db)
        raw = (energy > threshold) & (flatness <= self.max_flatness)
        flags = raw.copy()
        gap = round(self.hangover_s / self.hop_s)
        runs = _runs(raw)
        for (_, b), (c, _) in itertools.pairwise(runs):
            if c - b - 1 <= gap:
                flags[b + 1:c] = True
        return raw, flags

    def predict_audio(self, samples: FloatArray, sample_rate: int) -> list[SegmentPrediction]:
        """Speech segments in seconds, in order."""
        x = _check_audio(samples, sample_rate)
        raw, flags = self._decide(x, sample_rate)
        duration = x.size / sample_rate
        out = []
        for a, b in _runs(flags):
            start, end = self._span(a, b, duration)
            if end - start < self.min_speech_s or end <= start:
                continue
            out.append(SegmentPrediction(label=self.label, start=start, end=end,
                                         score=float(np.mean(raw[a:b + 1]))))
        return out

    def _span(self, a: int, b: int, duration: float) -> tuple[float, float]:
        half = (self.frame_s - self.hop_s) / 2
        return max(0.0, a * self.hop_s + half), min(duration, b * self.hop_s + half + self.hop_s)


class SileroVad:
    """Voice activity from a silero-vad ONNX model the user passes (module docstring); labels ``speech``.

    Args:
        vad_model: Path of silero-vad's ``silero_vad.onnx`` (v5; in the silero-vad repository at
            ``src/silero_vad/data/``).
        threshold: Speech probability from which a window starts speech, in (0.15, 1).
        min_speech_s: Shortest segment kept.
        min_silence_s: Longest pause bridged inside speech.
        pad_s: Padding added to both ends of each segment (clipped to the audio).

    Raises:
        BadPredictorError: no file at ``vad_model``, or not a silero-vad v5 model onnxruntime loads.
        MissingExtraError: onnxruntime is not installed.
    """

    modality: Literal["audio"] = "audio"
    #: samples per window and of context at 16 kHz (silero-vad v5's OnnxWrapper)
    WINDOW, CONTEXT, RATE = 512, 64, 16000

    def __init__(self, *, vad_model: str | os.PathLike[str], label: str = "speech", threshold: float = 0.5,
                 min_speech_s: float = 0.25, min_silence_s: float = 0.1, pad_s: float = 0.03) -> None:
        if not isinstance(label, str) or not label:
            raise BadPredictorError(f"label must be a non-empty string, got {label!r}")
        self.label = label
        self.threshold = _positive("threshold", threshold)
        if not 0.15 < self.threshold < 1.0:
            raise BadPredictorError(f"threshold must be in (0.15, 1), got {threshold!r}")
        self.min_speech_s = _positive("min_speech_s", min_speech_s, zero=True)
        self.min_silence_s = _positive("min_silence_s", min_silence_s, zero=True)
        self.pad_s = _positive("pad_s", pad_s, zero=True)
        path = os.fspath(vad_model)
        if not os.path.isfile(path):
            raise BadPredictorError(f"vad_model={path!r} is not a file; pass the path of silero-vad's "
                                    "silero_vad.onnx (github.com/snakers4/silero-vad, src/silero_vad/data/), "
                                    "or leave vad_model out for the built-in energy VAD")
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingExtraError("vad_model= needs onnxruntime to run the silero-vad model; install it with "
                                    "pip install onnxruntime (or pip install 'accord[onnx]'), or leave vad_model "
                                    "out for the built-in energy VAD") from None
        try:
            self._session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own untyped errors for a bad file
            raise BadPredictorError(f"vad_model={path!r} is not an ONNX model onnxruntime can load "
                                    f"({type(e).__name__}); pass silero-vad's silero_vad.onnx") from None
        names = {i.name for i in self._session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise BadPredictorError(f"vad_model={path!r} has inputs {sorted(names)}; expected silero-vad v5's "
                                    "['input', 'sr', 'state'] (use silero_vad.onnx from silero-vad 5 or later)")

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="segment"),)

    def window_probabilities(self, samples: FloatArray, sample_rate: int) -> FloatArray:
        """The model's speech probability of each 32 ms window of the audio at 16 kHz (zero-padded at the end)."""
        from scipy.signal import resample_poly

        x = _check_audio(samples, sample_rate)
        if sample_rate != self.RATE:
            g = math.gcd(int(sample_rate), self.RATE)
            x = resample_poly(x, self.RATE // g, int(sample_rate) // g)
        n = -(-x.size // self.WINDOW)
        x = np.concatenate([np.zeros(self.CONTEXT), x, np.zeros(n * self.WINDOW - x.size)]).astype(np.float32)
        state = np.zeros((2, 1, 128), dtype=np.float32)
        sr = np.array(self.RATE, dtype=np.int64)
        out = np.empty(n)
        for k in range(n):
            chunk = x[k * self.WINDOW:(k + 1) * self.WINDOW + self.CONTEXT][None, :]
            prob, state = self._session.run(None, {"input": chunk, "state": state, "sr": sr})
            out[k] = float(np.asarray(prob).reshape(-1)[0])
        return out

    def predict_audio(self, samples: FloatArray, sample_rate: int) -> list[SegmentPrediction]:
        """Speech segments in seconds, in order."""
        probs = self.window_probabilities(samples, sample_rate)
        duration = np.asarray(samples).size / sample_rate
        hop = self.WINDOW / self.RATE
        flags = np.zeros(probs.size, dtype=bool)
        on = False
        for k, p in enumerate(probs):
            on = p >= self.threshold or (on and p >= self.threshold - 0.15)
            flags[k] = on
        runs = _runs(flags)
        gap = round(self.min_silence_s / hop)
        merged: list[list[int]] = []
        for a, b in runs:
            if merged and a - merged[-1][1] - 1 <= gap:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        out = []
        for a, b in merged:
            start, end = a * hop, min(duration, (b + 1) * hop)
            if end - start < self.min_speech_s:
                continue
            out.append(SegmentPrediction(label=self.label, start=max(0.0, start - self.pad_s),
                                         end=min(duration, end + self.pad_s),
                                         score=float(np.clip(np.mean(probs[a:b + 1]), 0.0, 1.0))))
        return out


def _majority(labels: npt.NDArray[np.int64], k: int, width: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Per position, the most frequent label within ``width`` positions, and its share."""
    from scipy.ndimage import uniform_filter1d

    onehot = (labels[:, None] == np.arange(k)[None, :]).astype(np.float64)
    votes = uniform_filter1d(onehot, size=max(1, width), axis=0, mode="nearest")
    best = np.argmax(votes, axis=1)
    return best.astype(np.int64), votes[np.arange(len(best)), best]


def _absorb_short(labels: npt.NDArray[np.int64], min_len: int) -> npt.NDArray[np.int64]:
    """Runs of one label shorter than ``min_len`` take the label of the longer neighbouring run."""
    out = labels.copy()
    while True:
        cuts = [0, *(1 + np.nonzero(np.diff(out))[0]).tolist(), len(out)]
        runs = list(itertools.pairwise(cuts))
        if len(runs) < 2:
            return out
        lens = [e - s for s, e in runs]
        i = int(np.argmin(lens))
        if lens[i] >= min_len:
            return out
        left = lens[i - 1] if i > 0 else -1
        right = lens[i + 1] if i + 1 < len(runs) else -1
        s, e = runs[i]
        out[s:e] = out[runs[i - 1][0]] if left >= right else out[runs[i + 1][0]]


class SpeakerTurns:
    """Speaker turns: VAD, then MFCC windows clustered by Ward linkage (module docstring).

    Args:
        num_speakers: How many speakers, when known; else estimated up to ``max_speakers``.
        max_speakers: The most speakers the estimate may find (and the labels declared).
        speakers: Names for the speakers in order of first appearance (comma-separated or a
            sequence); default ``speaker_1``, ``speaker_2``, ...
        window_s, window_hop_s: The pooling windows clustered.
        split_ratio: Least ratio of successive Ward merge heights that counts as a second speaker.
        smooth_s: Majority-vote width for the frame labels.
        min_turn_s: A shorter turn inside a speech run joins its longer neighbour.
        min_speaker_s: A cluster with less speech than this is no speaker (its frames go to the
            nearest other cluster).
        vad: The voice-activity detector (default :class:`EnergyVad`).
    """

    modality: Literal["audio"] = "audio"

    def __init__(self, *, num_speakers: int | None = None, max_speakers: int = 4,
                 speakers: str | Sequence[str] | None = None, window_s: float = 0.5, window_hop_s: float = 0.25,
                 split_ratio: float = 2.0, smooth_s: float = 0.3, min_turn_s: float = 0.3,
                 min_speaker_s: float = 1.0, vad: EnergyVad | None = None) -> None:
        names = [s.strip() for s in speakers.split(",")] if isinstance(speakers, str) else list(speakers or [])
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise BadPredictorError(f"speakers must be distinct non-empty names, got {speakers!r}")
        n_max = int(num_speakers) if num_speakers is not None else int(max_speakers)
        if names and num_speakers is None and max_speakers == 4:
            n_max = len(names)
        if n_max < 1 or (num_speakers is not None and int(num_speakers) < 1):
            raise BadPredictorError(f"num_speakers / max_speakers must be >= 1, got {num_speakers!r} / "
                                    f"{max_speakers!r}")
        if names and len(names) < n_max:
            raise BadPredictorError(f"{len(names)} speaker names for up to {n_max} speakers; give one name each")
        self.num_speakers = int(num_speakers) if num_speakers is not None else None
        self.max_speakers = n_max
        self.names = tuple(names[:n_max]) or tuple(f"speaker_{k + 1}" for k in range(n_max))
        self.window_s = _positive("window_s", window_s)
        self.window_hop_s = _positive("window_hop_s", window_hop_s)
        self.split_ratio = _positive("split_ratio", split_ratio)
        self.smooth_s = _positive("smooth_s", smooth_s, zero=True)
        self.min_turn_s = _positive("min_turn_s", min_turn_s, zero=True)
        self.min_speaker_s = _positive("min_speaker_s", min_speaker_s, zero=True)
        self.vad = vad or EnergyVad()

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return tuple(LabelInfo(name=n, kind="segment") for n in self.names)

    def _n_clusters(self, z: FloatArray, n: int) -> int:
        if self.num_speakers is not None:
            return min(self.num_speakers, n)
        heights = z[:, 2]
        best, best_ratio = 1, self.split_ratio
        for k in range(2, min(self.max_speakers, n) + 1):
            merge_to_k_minus_1, merge_to_k = heights[n - k], heights[n - k - 1] if n - k - 1 >= 0 else 0.0
            ratio = merge_to_k_minus_1 / max(merge_to_k, 1e-9)
            if ratio >= best_ratio:
                best, best_ratio = k, ratio
        return best

    def predict_audio(self, samples: FloatArray, sample_rate: int) -> list[SegmentPrediction]:
        """Speaker turns in seconds, in order; each labelled with one of :attr:`names`."""
        x = _check_audio(samples, sample_rate)
        flags = self.vad.speech_frames(x, sample_rate)
        hop = self.vad.hop_s
        feats = mfcc(x, sample_rate, frame_s=self.vad.frame_s, hop_s=hop)[:, 1:]
        n = min(len(flags), len(feats))
        flags, feats = flags[:n], feats[:n]
        duration = x.size / sample_rate
        runs = [(a, b) for a, b in _runs(flags)
                if self.vad._span(a, b, duration)[1] - self.vad._span(a, b, duration)[0] >= self.vad.min_speech_s]
        if not runs:
            return []
        w, wh = max(1, round(self.window_s / hop)), max(1, round(self.window_hop_s / hop))
        windows: list[FloatArray] = []
        for a, b in runs:
            starts = list(range(a, max(a, b - w + 1) + 1, wh))
            for s in starts:
                seg = feats[s:min(b + 1, s + w)]
                windows.append(seg.mean(axis=0))
        wf = np.stack(windows)
        speech = np.concatenate([np.arange(a, b + 1) for a, b in runs])
        if len(wf) >= 2:
            sd = wf.std(axis=0)
            zf = (wf - wf.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
            z = linkage(zf, method="ward")
            k = self._n_clusters(z, len(wf))
            assign = fcluster(z, t=k, criterion="maxclust") - 1 if k > 1 else np.zeros(len(wf), np.int64)
            k = int(assign.max()) + 1
            # centroids in frame-MFCC space: the mean of the frames of each cluster's windows
            cents = np.stack([wf[assign == c, :feats.shape[1]].mean(axis=0) for c in range(k)])
            d = ((feats[speech, None, :] - cents[None, :, :]) ** 2).sum(axis=2)
            frame_lab = np.argmin(d, axis=1).astype(np.int64)
            # a cluster with under min_speaker_s of frames is no speaker (a window straddling a
            # change, an onset): its frames go to the nearest remaining centroid
            while k > 1:
                counts = np.bincount(frame_lab, minlength=k)
                small = int(np.argmin(counts))
                if counts[small] * hop >= self.min_speaker_s:
                    break
                keep = [c for c in range(k) if c != small]
                cents, d = cents[keep], d[:, keep]
                k -= 1
                frame_lab = np.argmin(d, axis=1).astype(np.int64)
        else:
            k, frame_lab = 1, np.zeros(len(speech), np.int64)
        lab = np.full(n, -1, np.int64)
        share = np.zeros(n)
        width = max(1, round(self.smooth_s / hop))
        pos = 0
        for a, b in runs:  # smooth within each speech run, never across a pause
            m = b - a + 1
            sm, sh = _majority(frame_lab[pos:pos + m], k, width)
            sm = _absorb_short(sm, max(1, round(self.min_turn_s / hop)))
            lab[a:b + 1], share[a:b + 1] = sm, sh
            pos += m
        order: dict[int, int] = {}
        for c in lab[lab >= 0]:
            order.setdefault(int(c), len(order))
        out = []
        for a, b in runs:
            cuts = [a, *(a + 1 + np.nonzero(np.diff(lab[a:b + 1]))[0]).tolist(), b + 1]
            for s, e in itertools.pairwise(cuts):
                start, end = self.vad._span(s, e - 1, duration)
                if s > a:
                    start = s * hop + self.vad.frame_s / 2 - hop / 2
                if e - 1 < b:
                    end = (e - 1) * hop + self.vad.frame_s / 2 + hop / 2
                if end <= start:
                    continue
                name = self.names[min(order[int(lab[s])], len(self.names) - 1)]
                out.append(SegmentPrediction(label=name, start=float(start), end=float(min(end, duration)),
                                             score=float(np.clip(share[s:e].mean(), 0.0, 1.0))))
        return out


class Transcriber:
    """Transcripts of segments from a user's Vosk model folder (``asr_model=PATH``); labels ``speech``.

    Each VAD segment (or the whole recording, ``segment=False``) is recognized on its own and
    returned with its text. The model is loaded once, when the transcriber is built.

    Raises:
        BadPredictorError: no model path, or the path is not a folder.
        MissingExtraError: vosk is not installed.
    """

    modality: Literal["audio"] = "audio"

    def __init__(self, *, asr_model: str | None = None, label: str = "speech", segment: bool = True,
                 vad: EnergyVad | None = None) -> None:
        if not asr_model:
            raise BadPredictorError("no ASR model is configured: pass asr_model=PATH (a Vosk model folder, "
                                    "e.g. vosk-model-small-en-us-0.15) to get transcripts; accord ships none")
        if not os.path.isdir(asr_model):
            raise BadPredictorError(f"asr_model={asr_model!r} is not a folder; pass the unpacked Vosk model folder")
        try:
            import vosk
        except ImportError as e:
            raise MissingExtraError("transcripts need vosk: pip install vosk") from e
        self.model = vosk.Model(asr_model)
        self._vosk = vosk
        self.label = label
        self.segment = segment
        self.vad = vad or EnergyVad(label=label)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="segment"),)

    def predict_audio(self, samples: FloatArray, sample_rate: int) -> list[SegmentPrediction]:
        """One segment per VAD segment, with its transcript."""
        import json

        x = _check_audio(samples, sample_rate)
        spans = ([(s.start, s.end) for s in self.vad.predict_audio(x, sample_rate)] if self.segment
                 else [(0.0, x.size / sample_rate)])
        out = []
        for start, end in spans:
            rec = self._vosk.KaldiRecognizer(self.model, float(sample_rate))
            pcm = (np.clip(x[int(start * sample_rate):int(end * sample_rate)], -1, 1) * 32767).astype("<i2")
            rec.AcceptWaveform(pcm.tobytes())
            res = json.loads(rec.FinalResult())
            words = res.get("result") or []
            conf = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
            out.append(SegmentPrediction(label=self.label, start=start, end=end, score=float(np.clip(conf, 0, 1)),
                                         text=str(res.get("text", ""))))
        return out


def segments_to_jsonl(segments: Sequence[SegmentPrediction], *, item_id: str, label_set: str = "segments",
                      annotator_id: str = "model:accord", speaker: bool = False) -> list[dict[str, Any]]:
    """Segments as accord JSONL records (:func:`accord.core.model.record_to_dict` of Segment values).

    With ``speaker=True`` the label goes to ``Segment.speaker`` (diarization) instead of ``label``.
    """
    from accord.core.model import record_to_dict

    out = []
    for k, s in enumerate(segments):
        value = Segment(start=float(s.start), end=float(s.end), label=None if speaker else s.label,
                        speaker=s.label if speaker else None, text=s.text, unit=s.unit)
        out.append(record_to_dict(Record(item_id=item_id, annotator_id=annotator_id, label_set=label_set,
                                         source="model", region_id=f"{item_id}-{k}", score=float(s.score),
                                         value=value)))
    return out


_VAD_PARAMS = {"label": str, "frame_s": float, "hop_s": float, "margin_db": float, "peak_range_db": float,
               "abs_floor_db": float, "max_flatness": float, "hangover_s": float, "min_speech_s": float}


def _typed(params: dict[str, Any], table: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise BadPredictorError(f"{what} does not take {unknown}; it takes {sorted(table)}")
    out = {}
    for k, v in params.items():
        try:
            out[k] = table[k](v)
        except (TypeError, ValueError):
            raise BadPredictorError(f"{what}: {k} must be a {table[k].__name__}, got {v!r}") from None
    return out


_SILERO_PARAMS = {"vad_model": str, "label": str, "threshold": float, "min_speech_s": float, "min_silence_s": float,
                  "pad_s": float}


def vad_from_params(**params: Any) -> EnergyVad | SileroVad:
    """``model=vad``: :class:`EnergyVad` from string parameters (the CLIs pass strings), or
    :class:`SileroVad` when ``vad_model=PATH`` names a silero-vad ONNX file."""
    if params.get("vad_model"):
        return SileroVad(**_typed(params, _SILERO_PARAMS, "vad with vad_model"))
    params.pop("vad_model", None)
    return EnergyVad(**_typed(params, _VAD_PARAMS, "vad"))


def speaker_turns_from_params(**params: Any) -> SpeakerTurns:
    """``model=speaker-turns``: :class:`SpeakerTurns`; VAD parameters (``hangover_s=...``) go to its VAD."""
    own = {"num_speakers": int, "max_speakers": int, "speakers": str, "window_s": float, "window_hop_s": float,
           "split_ratio": float, "smooth_s": float, "min_turn_s": float, "min_speaker_s": float}
    vad = {k: params.pop(k) for k in list(params) if k in _VAD_PARAMS}
    return SpeakerTurns(**_typed(params, own, "speaker-turns"), vad=EnergyVad(**_typed(vad, _VAD_PARAMS, "vad")))


def asr_from_params(**params: Any) -> Transcriber:
    """``model=transcribe``: :class:`Transcriber` (``asr_model=PATH`` is required)."""
    own = {"asr_model": str, "label": str, "segment": lambda v: str(v).lower() in ("1", "true", "yes")}
    return Transcriber(**_typed(params, own, "transcribe"))
