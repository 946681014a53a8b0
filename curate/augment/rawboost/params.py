"""RawBoost's drawn parameters: tensors for :func:`~curate.augment.rawboost.apply`,
plain per-item data for logs and replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor

from curate.augment.drawn import to_host
from curate.augment.rawboost.settings import check_algo

__all__ = ["Cascades", "RawBoostParams"]

_CASCADE_FIELDS = ("fc_hz", "bw_hz", "taps", "gain_db")
_ITEM_FIELDS = ("isd_beta", "isd_seed", "ssi_snr_db", "ssi_seed", "isd_positions",
                "isd_factors", "ssi_noise")


def _move(t: Tensor, device: Union[str, torch.device]) -> Tensor:
    # from the host without waiting for the device (a pageable copy is staged at once)
    return t.to(device, non_blocking=t.device.type == "cpu")


@dataclass(eq=False)
class Cascades:
    """Drawn band-stop cascades of a batch: ``cascades`` per item, ``bands`` per cascade.

    Attributes:
        fc_hz: band centre frequencies, Hz, float64 ``(batch, cascades, bands)``.
        bw_hz: band widths, Hz, float64 ``(batch, cascades, bands)``.
        taps: FIR lengths (odd), int64 ``(batch, cascades, bands)``.
        gain_db: cascade peak gains, dB, float64 ``(batch, cascades)``.
    """

    fc_hz: Tensor
    bw_hz: Tensor
    taps: Tensor
    gain_db: Tensor

    def to(self, device: Union[str, torch.device]) -> "Cascades":
        return Cascades(*(_move(getattr(self, f), device) for f in _CASCADE_FIELDS))

    def select(self, index: Tensor) -> "Cascades":
        return Cascades(*(getattr(self, f)[index.to(getattr(self, f).device)]
                          for f in _CASCADE_FIELDS))

    def tensors(self, prefix: str) -> dict[str, Tensor]:
        return {f"{prefix}.{f}": getattr(self, f) for f in _CASCADE_FIELDS}

    @staticmethod
    def host_item(host: Mapping[str, np.ndarray], prefix: str, i: int) -> list[dict[str, Any]]:
        """Item ``i``'s cascades as plain dicts, from :meth:`tensors` on the host."""
        fc, bw, taps, gain = (host[f"{prefix}.{f}"][i] for f in _CASCADE_FIELDS)
        return [{"fc_hz": fc[k].tolist(), "bw_hz": bw[k].tolist(), "taps": taps[k].tolist(),
                 "gain_db": float(gain[k])} for k in range(fc.shape[0])]

    @staticmethod
    def stack(items: Sequence[Sequence[Mapping[str, Any]]]) -> "Cascades":
        def grid(key: str, dtype: torch.dtype) -> Tensor:
            return torch.tensor([[c[key] for c in item] for item in items], dtype=dtype)
        return Cascades(grid("fc_hz", torch.float64), grid("bw_hz", torch.float64),
                        grid("taps", torch.int64), grid("gain_db", torch.float64))


@dataclass(eq=False)
class RawBoostParams:
    """Everything :func:`~curate.augment.rawboost.apply` needs, per item; index it for
    plain data.

    The tensors live where they were drawn (the generator's device) and ``apply`` uses
    them there. ``params[i]`` is item ``i`` as a dict of plain numbers (JSON-ready,
    loggable) and :meth:`to_list` gives all of them; either copies the tensors to the
    host in one transfer. :meth:`from_list` turns such dicts back into params, and
    applying them again gives the same output. Two params compare equal when their
    plain data does (a list of dicts compares too).

    Attributes:
        algo: RawBoost algorithm, 1-8.
        sample_rate: Hz the filters are designed for.
        g_sd: ISD impulse gain.
        lnl: the ``n_f`` LnL cascades per item (algorithms 1, 4, 5, 6, 8).
        isd_beta: ISD share of samples hit, percent, float64 ``(batch,)``.
        isd_seed: seed of the ISD positions and impulse factors, int64 ``(batch,)``.
        ssi: the one SSI cascade per item (algorithms 3, 4, 6, 7).
        ssi_snr_db: SSI SNR, dB, float64 ``(batch,)``.
        ssi_seed: seed of the SSI white noise, int64 ``(batch,)``.
        isd_positions: explicit ISD positions instead of ``isd_seed``, int64
            ``(batch, slots)``, -1 for an unused slot (used by
            :func:`~curate.augment.rawboost.reference_compatible`).
        isd_factors: explicit ``(2u1-1)(2u2-1)`` per slot, float64 ``(batch, slots)``.
        ssi_noise: explicit white noise instead of ``ssi_seed``, float64 ``(batch, time)``.
        max_taps: the largest tap count any band of the batch may have (host int; the
            settings' bound when drawn, so that no draw is read back): every band filter
            is centred in this many taps. Logged with each item (``"max_taps"``) so a
            replay uses the same filter geometry. None: the largest of ``taps`` (read
            from the tensors).
        max_beta_pct: the largest ISD share any item may have, percent (host float; the
            settings' ``p`` when drawn): it sizes the ISD candidate draws. None: the
            largest of ``isd_beta`` (read from the tensor).
    """

    algo: int
    sample_rate: int
    g_sd: float = 2.0
    lnl: Optional[Cascades] = None
    isd_beta: Optional[Tensor] = None
    isd_seed: Optional[Tensor] = None
    ssi: Optional[Cascades] = None
    ssi_snr_db: Optional[Tensor] = None
    ssi_seed: Optional[Tensor] = None
    isd_positions: Optional[Tensor] = None
    isd_factors: Optional[Tensor] = None
    ssi_noise: Optional[Tensor] = None
    max_taps: Optional[int] = None
    max_beta_pct: Optional[float] = None

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        for t in (self.isd_beta, self.ssi_snr_db):
            if t is not None:
                return int(t.shape[0])
        assert self.lnl is not None
        return int(self.lnl.gain_db.shape[0])

    # ----------------------------------------------------------------- plain data

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor, by name (what :func:`curate.augment.drawn.to_host` copies)."""
        out: dict[str, Tensor] = {}
        for prefix in ("lnl", "ssi"):
            cascades = getattr(self, prefix)
            if cascades is not None:
                out.update(cascades.tensors(prefix))
        for name in _ITEM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def rows(self, host: Mapping[str, np.ndarray],
             index: Optional[Sequence[int]] = None) -> list[dict[str, Any]]:
        """Plain dicts of the items at ``index`` (default all) from :meth:`tensors` on
        the host."""
        items = range(len(self)) if index is None else index
        return [self._row(host, int(i)) for i in items]

    def _row(self, host: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
        out: dict[str, Any] = {"algo": self.algo, "sample_rate": self.sample_rate}
        if self.lnl is not None or self.ssi is not None:
            out["max_taps"] = self._max_taps_host(host)
        if self.lnl is not None:
            out["lnl"] = Cascades.host_item(host, "lnl", i)
        if self.isd_beta is not None:
            isd: dict[str, Any] = {"beta_pct": float(host["isd_beta"][i]), "g_sd": self.g_sd}
            if self.isd_positions is not None:
                keep = host["isd_positions"][i] >= 0
                isd["positions"] = host["isd_positions"][i][keep].tolist()
                isd["factors"] = host["isd_factors"][i][keep].tolist()
            else:
                isd["seed"] = int(host["isd_seed"][i])
            out["isd"] = isd
        if self.ssi is not None:
            ssi = Cascades.host_item(host, "ssi", i)[0]
            ssi["snr_db"] = float(host["ssi_snr_db"][i])
            if self.ssi_noise is not None:
                ssi["noise"] = host["ssi_noise"][i].tolist()
            else:
                ssi["seed"] = int(host["ssi_seed"][i])
            out["ssi"] = ssi
        return out

    def _max_taps_host(self, host: Mapping[str, np.ndarray]) -> int:
        if self.max_taps is not None:
            return int(self.max_taps)
        return max(int(host[f"{p}.taps"].max(initial=1)) for p in ("lnl", "ssi")
                   if f"{p}.taps" in host)

    def to_list(self) -> list[dict[str, Any]]:
        """All items as plain dicts (see ``params[i]``); one transfer to the host."""
        return self.rows(to_host(self.tensors()))

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"item {i} out of range for a batch of {len(self)}")
        i = i % len(self)
        return self.select([i]).to_list()[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        """Equal as plain data (to another RawBoostParams or a list of dicts)."""
        if isinstance(other, RawBoostParams):
            return self.to_list() == other.to_list()
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.to_list() == list(other)
        return NotImplemented

    @classmethod
    def from_list(cls, items: Sequence[Mapping[str, Any]]) -> "RawBoostParams":
        """Params from per-item dicts (``params.to_list()``, e.g. read back from a log).

        Raises:
            ValueError: no items, or items of different algorithms / sample rates /
                shapes (replay such items in separate calls).
        """
        if not items:
            raise ValueError("items is empty; pass at least one per-item params dict")
        first = items[0]
        for key in ("algo", "sample_rate"):
            if any(not isinstance(item, Mapping) or key not in item for item in items):
                raise ValueError(f"items are not RawBoost params dicts (no {key!r}); pass the "
                                 "dicts of RawBoostParams.to_list()")
            if any(item[key] != first[key] for item in items):
                raise ValueError(f"items mix several values of {key!r}; replay each in its "
                                 "own call")
        out = cls(algo=check_algo(first["algo"]), sample_rate=int(first["sample_rate"]))
        try:
            if "lnl" in first:
                out.lnl = Cascades.stack([item["lnl"] for item in items])
            if "isd" in first:
                out.g_sd = float(first["isd"]["g_sd"])
                if any(float(item["isd"]["g_sd"]) != out.g_sd for item in items):
                    raise KeyError("isd.g_sd differs between items; replay each g_sd in its "
                                   "own call")
                betas = [float(item["isd"]["beta_pct"]) for item in items]
                out.isd_beta = torch.tensor(betas, dtype=torch.float64)
                out.max_beta_pct = max(betas)
                if "positions" in first["isd"]:
                    out.isd_positions, out.isd_factors = _slots(
                        [item["isd"]["positions"] for item in items],
                        [item["isd"]["factors"] for item in items])
                else:
                    out.isd_seed = torch.tensor([item["isd"]["seed"] for item in items],
                                                dtype=torch.int64)
            if "ssi" in first:
                out.ssi = Cascades.stack([[item["ssi"]] for item in items])
                out.ssi_snr_db = torch.tensor([item["ssi"]["snr_db"] for item in items],
                                              dtype=torch.float64)
                if "noise" in first["ssi"]:
                    out.ssi_noise = pad_rows([item["ssi"]["noise"] for item in items])
                else:
                    out.ssi_seed = torch.tensor([item["ssi"]["seed"] for item in items],
                                                dtype=torch.int64)
            if out.lnl is not None or out.ssi is not None:
                out.max_taps = max(_item_max_taps(item) for item in items)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"items are not RawBoost params dicts (missing or bad {exc}); "
                             "pass the dicts of RawBoostParams.to_list()") from None
        except (RuntimeError, ValueError) as exc:  # ragged band/cascade lists
            raise ValueError(f"items do not share one shape ({exc}); replay items with "
                             "different n_bands or n_f in separate calls") from None
        return out

    # ------------------------------------------------------------------ batches

    def select(self, index: Union[Sequence[int], Tensor]) -> "RawBoostParams":
        """The params of the items at ``index`` (a sub-batch, in that order)."""
        index = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        out = replace(self)
        for name in ("lnl", "ssi"):
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value.select(index))
        for name in _ITEM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value[index.to(value.device)])
        return out

    def to(self, device: Union[str, torch.device]) -> "RawBoostParams":
        """The same params with every tensor on ``device``."""
        out = replace(self)
        for name in ("lnl", "ssi"):
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value.to(device))
        for name in _ITEM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, _move(value, device))
        return out


def _item_max_taps(item: Mapping[str, Any]) -> int:
    """The filter width an item asks for: its logged ``max_taps``, at least its own taps."""
    cascades = list(item.get("lnl", [])) + ([item["ssi"]] if "ssi" in item else [])
    own = max((int(t) for c in cascades for t in c["taps"]), default=1)
    return max(own, int(item.get("max_taps", own)))


def pad_rows(rows: Sequence[Sequence[float]], fill: float = 0.0,
             dtype: torch.dtype = torch.float64) -> Tensor:
    """Rows of different lengths as one ``(len(rows), longest)`` tensor, ``fill`` after."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.as_tensor(row, dtype=dtype)
    return out


def _slots(positions: Sequence[Sequence[int]], factors: Sequence[Sequence[float]]
           ) -> tuple[Tensor, Tensor]:
    return (pad_rows(positions, fill=-1, dtype=torch.int64),
            pad_rows(factors, dtype=torch.float64))
