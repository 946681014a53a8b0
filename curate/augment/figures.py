"""Before/after spectrograms of RawBoost, one PNG per algorithm (for docs/augmentation.md).

``python docs/figures.py docs/img`` writes ``docs/img/rawboost_algo{1..8}.png`` (and the
other augmentation figures) from a spoken sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import signal  # noqa: E402

from curate.augment.rawboost import ALGORITHMS, rawboost  # noqa: E402

__all__ = ["rawboost_figures"]

_NAMES = {1: "LnL convolutive", 2: "ISD impulsive", 3: "SSI coloured additive",
          4: "LnL + ISD + SSI", 5: "LnL + ISD", 6: "LnL + SSI", 7: "ISD + SSI",
          8: "LnL(x) + ISD(x) in parallel"}


def _spectrogram_db(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f, t, s = signal.spectrogram(x, fs=sample_rate, window="hann", nperseg=512, noverlap=384,
                                 mode="magnitude")
    return f, t, 20 * np.log10(np.maximum(s, 1e-7))


def _summary(params: dict) -> str:
    parts = []
    if "lnl" in params:
        parts.append(f"LnL {len(params['lnl'])} orders x {len(params['lnl'][0]['fc_hz'])} notches")
    if "isd" in params:
        parts.append(f"ISD beta {params['isd']['beta_pct']:.1f} %")
    if "ssi" in params:
        parts.append(f"SSI SNR {params['ssi']['snr_db']:.1f} dB")
    return ", ".join(parts)


def _save_small_png(fig, path: Path, dpi: int, colors: int = 64) -> None:
    """Save ``fig`` as a palette PNG (``colors`` colours): a fraction of the RGB size."""
    from PIL import Image

    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(colors=colors)
    image.save(path, optimize=True)


def rawboost_figures(out_dir: Union[str, Path], x: np.ndarray, *,
                     algos: Iterable[int] = ALGORITHMS, seed: int = 0,
                     sample_rate: int = 16000, dpi: int = 80) -> list[Path]:
    """Render before/after spectrograms of each RawBoost algorithm to PNGs.

    Args:
        out_dir: folder for ``rawboost_algo{N}.png`` (created if missing).
        algos: the algorithms to draw (default all, 1-8).
        seed: seed of the ``torch.Generator`` each algorithm draws from.
        sample_rate: Hz.
        dpi: resolution of the PNGs.
        x: the utterance, float ``(time,)`` at ``sample_rate``.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x, dtype=np.float32)
    f, t, before = _spectrogram_db(x, sample_rate)
    top = float(before.max())
    written = []
    for algo in algos:
        y, params = rawboost(torch.from_numpy(x)[None], None, algo,
                             torch.Generator().manual_seed(seed), sample_rate)
        _f, _t, after = _spectrogram_db(y[0].numpy(), sample_rate)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.1), sharey=True, constrained_layout=True)
        for ax, spec, title in ((axes[0], before, "original"),
                                (axes[1], after, f"algorithm {algo}: {_NAMES[algo]}")):
            mesh = ax.pcolormesh(t, f / 1000, spec, vmin=top - 80, vmax=top, cmap="magma",
                                 shading="auto", rasterized=True)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("time (s)")
        axes[0].set_ylabel("frequency (kHz)")
        fig.colorbar(mesh, ax=axes, label="dB", pad=0.01)
        fig.suptitle(_summary(params[0]), fontsize=9)
        path = out_dir / f"rawboost_algo{algo}.png"
        _save_small_png(fig, path, dpi)
        plt.close(fig)
        written.append(path)
    return written
