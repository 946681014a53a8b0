"""Regenerate the documentation figures of docs/augmentation.md.

    python docs/figures.py [docs/img]

Writes ``rawboost_algo{1..8}.png`` and ``aug_<step>.png`` (before/after spectrograms of
one spoken sentence, synthesised with espeak-ng as the demo does). This is a docs
script, not part of the package: the library never depends on the demo.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from curate.augment.figures import rawboost_figures
from curate.augment.offline import spectrogram_png


def example_utterance(sample_rate: int = 16000, seconds: float = 2.5) -> np.ndarray:
    """A short English sentence from espeak-ng, float32 ``(time,)`` with peak 0.5.

    Falls back to a synthetic voiced signal (harmonics of a moving pitch with syllable
    envelopes) where espeak-ng cannot be loaded.
    """
    n = int(seconds * sample_rate)
    try:
        from curate.demo.espeak import synthesize

        x = synthesize("Genuine speech, or a clever fake? Listen closely.", "en",
                       sample_rate=sample_rate, seed=0)
    except (RuntimeError, OSError, ImportError):
        t = np.arange(n) / sample_rate
        phase = 2 * np.pi * np.cumsum(130 + 30 * np.sin(2 * np.pi * 0.7 * t)) / sample_rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
        x = voiced * np.clip(np.sin(2 * np.pi * 2.2 * t), 0, None) ** 2
    x = np.asarray(x[:n], dtype=np.float32)
    return 0.5 * x / max(float(np.abs(x).max()), 1e-9)


def _toy_codec():
    """A stand-in 'neural codec' for the docs figure: STFT magnitudes averaged over 40
    bands and quantised to 3 dB steps, phase kept (no trained model is shipped)."""
    import torch

    class ToyCodec(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            window = torch.hann_window(512, device=x.device)
            spec = torch.stft(x[:, 0], 512, 128, window=window, return_complex=True)
            mag = spec.abs().clamp_min(1e-7)
            bands = torch.linspace(0, mag.shape[1], 41).long().tolist()
            for lo, hi in zip(bands[:-1], bands[1:]):
                level = 20 * torch.log10(mag[:, lo:hi].mean(dim=1, keepdim=True))
                mag[:, lo:hi] = 10 ** (torch.round(level / 3) * 3 / 20)
            y = torch.istft(torch.polar(mag, spec.angle()), 512, 128, window=window,
                            length=x.shape[-1])
            return y[:, None]

    return ToyCodec()


def write_doc_figures(out_dir: Path, seed: int = 0) -> list[Path]:
    """Write ``aug_<step>.png`` (before/after spectrograms of one spoken sentence) for
    every step of ``docs/augmentation.md``; needs espeak-ng (the demo's)."""
    import torch

    from curate.augment import presets, realcodec
    from curate.augment.channel import TENSOR_STEPS
    from curate.augment.chain import parse_chain
    from curate.augment.neural import neural_codec
    from curate.demo.espeak import synthesize

    sr = 16000
    x = synthesize("The quick brown fox jumps over the lazy dog.", "en", sample_rate=sr,
                   seed=seed)[: int(2.6 * sr)]
    x = (0.5 * x / max(1e-6, float(np.abs(x).max()))).astype(np.float32)
    out_dir = Path(out_dir)
    written = []

    def save(name: str, y: np.ndarray, title: str) -> None:
        written.append(spectrogram_png(x, np.asarray(y, np.float32), sr,
                                       out_dir / f"aug_{name}.png", title, max_seconds=2.6))

    def tensor(name: str, params: dict, **settings: Any) -> np.ndarray:
        step = TENSOR_STEPS[name](sample_rate=sr, **settings)
        return step.apply(torch.from_numpy(x)[None], None, [params])[0].numpy()

    chain = parse_chain({"step": [{"name": "rawboost", "algo": 5}]}, "figure")
    y, steps = chain.apply_offline(x, sr, np.random.default_rng(seed),
                                   torch.Generator().manual_seed(seed))
    save("rawboost", y, "rawboost, algo 5 (LnL + ISD)")
    for codec, bitrate in (("mp3", 24000), ("aac", 16000), ("opus", 8000), ("amr_nb", 4750),
                           ("g722", None)):
        y = realcodec.encode_decode(x, sr, codec, bitrate)
        rate = f" {bitrate // 1000 if bitrate % 1000 == 0 else bitrate / 1000} kbit/s" \
            if bitrate else ""
        save(f"codec_{codec}", y, f"codec: {codec}{rate}")
    save("g711", tensor("g711", {"law": "mu"}), "g711: mu-law at 16 kHz")
    save("telephone", tensor("telephone", {"law": "a", "low_hz": 300.0, "high_hz": 3400.0}),
         "telephone: 8 kHz, 300-3400 Hz, A-law")
    save("bandlimit", tensor("bandlimit", {"cutoff_hz": 4000.0}), "bandlimit: 4 kHz low-pass")
    save("bit_depth", tensor("bit_depth", {"bits": 6}), "bit_depth: 6 bits")
    save("downsample", tensor("downsample", {"rate": 6000, "method": "hold"}),
         "downsample: 6 kHz, zero-order hold (aliasing)")
    save("packet_loss", tensor("packet_loss", {"frame_ms": 40, "loss": 0.2, "conceal": "zero",
                                               "seed": 3}),
         "packet_loss: 40 ms frames, 20 % lost, zeros")
    save("gain", tensor("gain", {"gain_db": 14.0}), "gain: +14 dB, clipped at full scale")
    save("clip", tensor("clip", {"clip_db": -12.0}), "clip: at -12 dB of the peak")
    y, params = presets.run_condition(x, sr, "asvspoof5", np.random.default_rng(seed), ["C08"])
    save("preset", y, f"preset: asvspoof5 C08 (Opus narrowband, "
                      f"{params['ops'][0]['bitrate'] / 1000:g} kbit/s)")
    aug = parse_chain({"step": [{"name": "audiomentations.AddColorNoise", "min_snr_db": 15.0,
                                 "max_snr_db": 15.0, "min_f_decay": -6.0,
                                 "max_f_decay": -6.0}]}, "figure")
    y, _ = aug.cpu_stage(x, sr, np.random.default_rng(seed))
    save("audiomentations", y, "audiomentations.AddColorNoise: brown noise, 15 dB SNR")
    y = neural_codec(torch.from_numpy(x)[None], None, _toy_codec(), sr)[0].numpy()
    save("neural_codec", y, "neural_codec: a toy model (STFT magnitudes in 3 dB steps)")
    return written


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    figures = rawboost_figures(folder, example_utterance()) + write_doc_figures(folder)
    for figure in figures:
        print(figure, figure.stat().st_size // 1024, "KB")
