"""Offline text-to-speech with espeak-ng, called through ctypes.

The shared library and its voice data come from the ``espeakng_loader`` wheel,
so nothing has to be installed system-wide.

espeak-ng keeps synthesis state in C statics that survive between utterances
(pitch-flutter phase, gain control, echo buffer) and draws breath noise from
``rand()``, so two calls with the same arguments in one loaded instance do not
give the same samples. To make :func:`synthesize` a pure function of its
arguments, each call loads a fresh instance of the library (a private copy of
``libespeak-ng.so`` made once per process, so no other user of the library
shares it), initialises it, seeds its noise, speaks, and unloads it again.
This costs about a millisecond. Calls are serialised by a lock (espeak-ng is not
thread-safe); a fresh subprocess makes its own private copy on first use.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import shutil
import tempfile
import threading

import numpy as np
import torch
import torchaudio.transforms as AT

__all__ = ["synthesize", "native_sample_rate", "list_voice_languages"]

# espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize options: do not call exit() on a fatal error.
_INITIALIZE_DONT_EXIT = 0x8000
# espeak_PARAMETER
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
# espeak_POSITION_TYPE / synth flags
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
# espeak_ERROR
_EE_OK = 0

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_LOCK = threading.Lock()
_PRIVATE: tuple[str, str] | None = None  # (private library copy, data path), per process
_NATIVE_RATE: int | None = None
_LIBC = ctypes.CDLL(None)


def _paths() -> tuple[str, str]:
    """Private copy of the library and the data folder; made once per process.

    Call with ``_LOCK`` held. Raises RuntimeError if the library is missing or
    cannot be loaded.
    """
    global _PRIVATE
    if _PRIVATE is not None and os.path.exists(_PRIVATE[0]):
        return _PRIVATE
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise RuntimeError(
            "espeak-ng is unavailable: the 'espeakng-loader' package is not installed; "
            "install it with `pip install espeakng-loader`."
        ) from exc
    lib_path = espeakng_loader.get_library_path()
    try:
        data_path = espeakng_loader.get_data_path()
        folder = tempfile.mkdtemp(prefix="curate-espeak-")
        private = os.path.join(folder, os.path.basename(lib_path))
        shutil.copyfile(lib_path, private)
        atexit.register(shutil.rmtree, folder, True)
        probe = ctypes.CDLL(private)  # fail here, with a clear message, if it cannot load
        _unload(probe)
    except (OSError, RuntimeError) as exc:
        raise RuntimeError(
            f"espeak-ng could not be loaded from {lib_path!r} ({exc}); reinstall "
            "'espeakng-loader' for this platform."
        ) from exc
    _PRIVATE = (private, data_path)
    return _PRIVATE


def _open(lib_path: str, data_path: str) -> tuple[ctypes.CDLL, int]:
    """Load a fresh library instance and initialise it; returns it and its rate in Hz."""
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode("utf-8"), _INITIALIZE_DONT_EXIT
    )
    if rate <= 0:
        _close(lib)
        raise RuntimeError(
            f"espeak_Initialize failed (returned {rate}) with data path {data_path!r}; "
            "check that the espeak-ng-data folder of 'espeakng-loader' is intact."
        )
    return lib, int(rate)


def _unload(lib: ctypes.CDLL) -> None:
    """Drop this handle's reference to the library (dlclose)."""
    import _ctypes

    _ctypes.dlclose(lib._handle)


def _close(lib: ctypes.CDLL) -> None:
    """Terminate and unload ``lib`` so the next load starts from clean statics."""
    try:
        lib.espeak_Terminate()
    finally:
        _unload(lib)


def _seed(lib: ctypes.CDLL, seed: int) -> None:
    """Seed espeak-ng's own generator (>= 1.52) and libc ``rand()`` (breath noise)."""
    set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
    if set_seed is not None:
        set_seed.restype = None
        set_seed.argtypes = [ctypes.c_long]
        set_seed(int(seed))
    _LIBC.srand(ctypes.c_uint(int(seed) & 0xFFFFFFFF))


@functools.lru_cache(maxsize=8)
def _resampler(orig: int, new: int) -> AT.Resample:
    """Band-limited sinc resampler with its kernel computed once per rate pair."""
    return AT.Resample(orig, new)


def native_sample_rate() -> int:
    """espeak-ng's output rate in Hz (22050 for the bundled voices)."""
    global _NATIVE_RATE
    with _LOCK:
        if _NATIVE_RATE is None:
            lib, _NATIVE_RATE = _open(*_paths())
            _close(lib)
        return _NATIVE_RATE


def list_voice_languages() -> list[str]:
    """Language voice names shipped with the bundled data, e.g. ``["af", ..., "en-US", ...]``."""
    import espeakng_loader

    lang_dir = os.path.join(espeakng_loader.get_data_path(), "lang")
    names = []
    for _dirpath, _dirs, files in os.walk(lang_dir):
        names.extend(files)
    return sorted(names)


def synthesize(
    text: str,
    voice: str,
    *,
    rate_wpm: int = 160,
    pitch: int = 50,
    sample_rate: int = 16000,
    seed: int = 0,
) -> np.ndarray:
    """Speak ``text`` with an espeak-ng voice.

    Args:
        text: UTF-8 text to speak (non-empty).
        voice: espeak-ng voice name, optionally with a variant: ``"en"``,
            ``"en-US"``, ``"de"``, ``"fr+f3"``, ``"en+m1"``.
        rate_wpm: speaking rate in words per minute, 80..450.
        pitch: base pitch on espeak-ng's 0..100 scale (50 = voice default).
        sample_rate: output rate in Hz; audio is resampled from espeak-ng's
            native rate (22050 Hz) when different.
        seed: seed of espeak-ng's noise (its own generator and libc
            ``rand()``, both set before every call; note that libc's generator
            is process-wide).

    Returns:
        ``(num_samples,)`` float32 mono waveform in [-1, 1] at ``sample_rate``.

    Raises:
        ValueError: an argument is out of range or the voice is unknown.
        RuntimeError: the espeak-ng library cannot be loaded or synthesis fails.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string; pass the sentence to speak.")
    if not isinstance(voice, str) or not voice:
        raise ValueError("voice must be an espeak-ng voice name such as 'en' or 'fr+f3'.")
    if not 80 <= int(rate_wpm) <= 450:
        raise ValueError(f"rate_wpm must be in 80..450 words per minute, got {rate_wpm}.")
    if not 0 <= int(pitch) <= 100:
        raise ValueError(f"pitch must be in 0..100 (50 is the voice default), got {pitch}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be a positive rate in Hz, got {sample_rate}.")

    encoded = text.encode("utf-8") + b"\0"
    chunks: list[bytes] = []

    def _collect(wav, num_samples, _events):  # called by espeak-ng inside espeak_Synth
        if wav and num_samples > 0:
            chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0 = continue synthesis

    callback = _SYNTH_CALLBACK(_collect)
    with _LOCK:
        lib, native = _open(*_paths())
        try:
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
                raise ValueError(
                    f"voice {voice!r} is not known to espeak-ng; use a language name from "
                    "list_voice_languages(), optionally with a variant like '+f3'."
                )
            lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
            lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            _seed(lib, seed)
            buf = ctypes.create_string_buffer(encoded)
            err = lib.espeak_Synth(
                ctypes.cast(buf, ctypes.c_void_p), len(encoded), 0, _POS_CHARACTER,
                0, _CHARS_UTF8, None, None,
            )
            if err == _EE_OK:
                err = lib.espeak_Synchronize()
        finally:
            _close(lib)
    if err != _EE_OK:
        raise RuntimeError(f"espeak_Synth failed with error code {err} for voice {voice!r}.")

    audio = np.frombuffer(b"".join(chunks), dtype=np.int16).astype(np.float32) / 32768.0
    if sample_rate != native and audio.size:
        with torch.no_grad():
            audio = _resampler(native, int(sample_rate))(torch.from_numpy(audio)).numpy()
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)
