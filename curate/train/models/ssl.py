"""``ssl``: an SSL backbone (wav2vec 2.0 / XLS-R / MMS / HuBERT, torchaudio) with layer
selection, pooling and a linear head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from curate.batch import check_batch
from curate.train.models.fairseq_layout import fairseq_to_torchaudio
from curate.train.models.functional import lengths_to_mask, masked_group_norm, masked_mean
from curate.train.models.hf_layout import hf_to_torchaudio
from curate.train.models.pooling import POOLINGS, AttentivePooling
from curate.train.models.pretrained import read_pretrained
from curate.train.models.registry import register_model
from curate.train.models.ssl_arch import (_BASE, _DROPOUT_KEYS, _SHAPE_KEYS, PretrainedError,
                                          _norm, _plain_arch, _receptive_field, check_arch,
                                          ssl_arch)

#: Added to the variance when normalising a waveform (Hugging Face's feature extractor's).
NORMALIZE_EPS = 1e-7


def normalize_waveform(x: torch.Tensor, lengths: torch.Tensor,
                       eps: float = NORMALIZE_EPS) -> torch.Tensor:
    """Zero mean and unit variance per row over its valid samples, as Hugging Face's
    ``Wav2Vec2FeatureExtractor`` (``do_normalize`` with an attention mask) and fairseq's
    ``normalize`` (a layer norm over the utterance) prepare the input of a model trained
    that way. ``eps`` is Hugging Face's; fairseq's layer norm adds 1e-5, which differs
    only for utterances whose variance is near 1e-5 (RMS around -50 dBFS) or below.

    Args:
        x: (batch, time) waveforms, padded after ``lengths[i]`` samples.
        lengths: (batch,) valid samples per row (>= 1).
        eps: added to the (biased) variance before the square root.

    Returns:
        (batch, time), x's dtype (statistics in float32 or better): row ``i`` is
        ``(x[i, :n] - mean) / sqrt(var + eps)`` with ``n = lengths[i]``, then zeros (the
        padding's values, even NaN or inf, play no part).
    """
    mask = lengths_to_mask(lengths, x.shape[1])
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    count = lengths.clamp(min=1).to(work.dtype).unsqueeze(1)
    zero = work.new_zeros(())
    mean = torch.where(mask, work, zero).sum(dim=1, keepdim=True) / count
    centred = torch.where(mask, work - mean, zero)
    var = (centred * centred).sum(dim=1, keepdim=True) / count
    return (centred * torch.rsqrt(var + eps)).to(x.dtype)


class SSLDetector(nn.Module):
    """An SSL backbone (wav2vec 2.0, XLS-R, MMS, HuBERT) + pooling + linear head.

    Args:
        sample_rate: must be 16000 (the backbones' rate).
        arch: a named size (:data:`SSL_ARCHS`: ``wav2vec2_base``, ``wav2vec2_large``,
            ``wav2vec2_large_lv60k``, ``xlsr_300m``, ``xlsr_1b``, ``xlsr_2b``, ``mms_300m``,
            ``mms_1b``, ``hubert_base``, ``hubert_large``, ``hubert_xlarge``), ``custom``
            (``arch_config``, with the base size's values for keys it leaves out) or
            ``auto`` (from the pretrained checkpoint).
        pretrained: a local checkpoint (Hugging Face folder or fairseq file, see
            :func:`read_pretrained`), or None for random initialisation.
        arch_config: ``wav2vec2_model`` arguments overriding the size's (tiny test
            configurations, other dropouts ...).
        layer_drop: encoder layer drop (0: off, the default for detection).
        dropout: when set, every encoder dropout (projection, attention, feed-forward,
            residual) takes this value; None keeps the size's / checkpoint's.
        layers: ``"last"`` (the encoder output), ``"weighted"`` (a learned softmax-weighted
            sum of all layer outputs) or an int k (the output of layer k, 1-based).
        pooling: ``"mean"`` or ``"attentive"`` (attentive statistics pooling).
        attention_dim: hidden size of the attentive pooling.
        head_hidden: size of a hidden layer before the output layer (0: linear head).
        head_dropout: dropout before the head.
        freeze_feature_extractor: keep the convolutional feature extractor fixed.
        trust_checkpoint: allow full unpickling of the pretrained file (trusted files
            only; needed for some old fairseq checkpoints).
        normalize: normalise each waveform to zero mean and unit variance over its
            valid samples (:func:`normalize_waveform`) before the backbone, as models
            pretrained that way expect. None (the default): what the checkpoint says
            (``do_normalize`` in a Hugging Face ``preprocessor_config.json``, fairseq's
            ``task.normalize``), false without a checkpoint or where it does not say.
            The resolved value is kept in :meth:`restore_kwargs`.
        activation_checkpointing: in training (with gradients), recompute each encoder
            layer's activations in the backward pass instead of keeping them
            (``torch.utils.checkpoint``, non-reentrant, RNG state preserved so dropout
            masks match): less memory for about one more forward of the encoder per
            step. The gradients are the same as without it.

    Padding: waveform normalisation uses each row's valid samples, the convolutional
    feature extractor's group norm (base models) is computed over each row's valid
    frames, and the encoder masks padded frames, so a row's output does not depend on
    the padding after it. Masking of time steps (SpecAugment style, from pretraining)
    is not applied.

    Shapes:
        forward(x (batch, time), lengths (batch,) or None) -> logits (batch, 2).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        arch: str = "wav2vec2_base",
        pretrained: str | None = None,
        arch_config: dict[str, Any] | None = None,
        layer_drop: float = 0.0,
        dropout: float | None = None,
        layers: str | int = "last",
        pooling: str = "mean",
        attention_dim: int = 128,
        head_hidden: int = 0,
        head_dropout: float = 0.0,
        freeze_feature_extractor: bool = False,
        trust_checkpoint: bool = False,
        normalize: bool | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        from torchaudio.models import wav2vec2_model

        if sample_rate != 16000:
            raise ValueError(f"SSL backbones take 16000 Hz audio; set sample_rate = 16000 "
                             f"(got {sample_rate})")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not (layers in ("last", "weighted") or (isinstance(layers, int)
                                                    and not isinstance(layers, bool))):
            raise ValueError(f"layers must be 'last', 'weighted' or a layer number, got "
                             f"{layers!r}")
        if not 0.0 <= layer_drop < 1.0:
            raise ValueError(f"layer_drop must be in [0, 1), got {layer_drop}")
        if dropout is not None and not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) or None, got {dropout}")
        if normalize is not None and not isinstance(normalize, bool):
            raise ValueError(f"normalize must be true, false or None (what the checkpoint "
                             f"says), got {normalize!r}")
        if not isinstance(activation_checkpointing, bool):
            raise ValueError(f"activation_checkpointing must be true or false, got "
                             f"{activation_checkpointing!r}")
        state = None
        ckpt_arch: dict[str, Any] = {}
        ckpt_normalize: bool | None = None
        if pretrained:
            ckpt_arch, raw, layout, ckpt_normalize = read_pretrained(pretrained,
                                                                     trust_checkpoint)
            self.pretrained_layout = layout
        if arch == "auto":
            if not ckpt_arch:
                raise ValueError("arch = 'auto' needs a pretrained checkpoint that describes "
                                 "its architecture (a Hugging Face folder or fairseq file)")
            config = dict(ckpt_arch)
        elif arch == "custom":
            if not arch_config:
                raise ValueError("arch = 'custom' needs arch_config (wav2vec2_model arguments)")
            config = dict(_BASE)  # the base size's values for keys arch_config leaves out
        else:
            config = ssl_arch(arch)
            if ckpt_arch:
                clash = [k for k in _SHAPE_KEYS if _norm(ckpt_arch[k]) != _norm(config[k])]
                if clash:
                    raise PretrainedError(
                        f"pretrained checkpoint {pretrained} does not match arch {arch!r} "
                        f"({', '.join(f'{k}: {ckpt_arch[k]} vs {config[k]}' for k in clash)}); "
                        "use arch = 'auto' to take the architecture from the checkpoint"
                    )
                config = dict(ckpt_arch)
        config.update(arch_config or {})
        config["encoder_layer_drop"] = float(layer_drop)
        if dropout is not None:
            config.update({k: float(dropout) for k in _DROPOUT_KEYS})
        self.arch_config = check_arch(config, f"arch {arch!r}")
        self.backbone = wav2vec2_model(**self.arch_config, aux_num_out=None)
        if pretrained:
            target = self.backbone.state_dict()
            if layout == "huggingface":
                state = hf_to_torchaudio(raw, target.keys())
            elif layout == "fairseq":
                state = fairseq_to_torchaudio(raw, target.keys())
            else:
                state = raw
            self._load_backbone(state, target, str(pretrained))
        dim = self.arch_config["encoder_embed_dim"]
        num_layers = self.arch_config["encoder_num_layers"]
        if isinstance(layers, int) and not 1 <= layers <= num_layers:
            raise ValueError(f"layers must be in [1, {num_layers}] for this backbone, got "
                             f"{layers}")
        self.layers = layers
        self.layer_drop = float(layer_drop)
        self._step_seed: int | None = None
        if isinstance(layers, int):
            self._keep_first_layers(layers)
        self.layer_weights = nn.Parameter(torch.zeros(num_layers)) if layers == "weighted" \
            else None
        self.pooling = pooling
        self.pool = AttentivePooling(dim, attention_dim) if pooling == "attentive" else None
        pooled = 2 * dim if pooling == "attentive" else dim
        #: size of :meth:`embed`'s pooled vector, the head's input
        self.embedding_dim = pooled
        self.dropout = nn.Dropout(head_dropout)
        if head_hidden:
            self.head = nn.Sequential(nn.Linear(pooled, head_hidden), nn.GELU(),
                                      nn.Dropout(head_dropout), nn.Linear(head_hidden, 2))
        else:
            self.head = nn.Linear(pooled, 2)
        self.freeze_feature_extractor = bool(freeze_feature_extractor)
        if self.freeze_feature_extractor:
            for p in self.backbone.feature_extractor.parameters():
                p.requires_grad_(False)
        self.normalize = bool(ckpt_normalize) if normalize is None else normalize
        self.activation_checkpointing = activation_checkpointing
        self._kwargs = dict(arch="custom", pretrained=None,
                            arch_config=_plain_arch(self.arch_config), layer_drop=layer_drop,
                            dropout=None, layers=layers, pooling=pooling,
                            attention_dim=attention_dim, head_hidden=head_hidden,
                            head_dropout=head_dropout,
                            freeze_feature_extractor=freeze_feature_extractor,
                            normalize=self.normalize,
                            activation_checkpointing=activation_checkpointing)
        self.receptive_field = _receptive_field(self.arch_config["extractor_conv_layer_config"])

    @property
    def may_skip_parameters(self) -> bool:
        """True when a training forward may leave parameters unused (layer drop): DDP
        then has to look for unused parameters in every step."""
        return self.layer_drop > 0

    def set_step_seed(self, seed: int | None) -> None:
        """Key the layer-drop draws of the coming forward passes (the training loop sets
        it per optimizer step): every micro-batch and both SAM passes of a step, on
        every rank, then skip the same layers, as DDP needs."""
        self._step_seed = None if seed is None else int(seed)

    def _keep_first_layers(self, k: int) -> None:
        """``layers = k``: only layers 1..k exist (and run); a final layer norm that only
        the full stack would apply goes too. Checkpoints written with the full stack
        still load (their extra keys are dropped)."""
        transformer = self.backbone.encoder.transformer
        full = len(transformer.layers)
        transformer.layers = transformer.layers[:k]
        if k < full and not transformer.layer_norm_first:
            transformer.layer_norm = nn.Identity()
        prefix = "backbone.encoder.transformer."

        def drop_extra_keys(state: dict, module_prefix: str, *_: Any) -> None:
            base = module_prefix + prefix
            for key in list(state):
                if key.startswith(base + "layers."):
                    index = key[len(base + "layers."):].split(".", 1)[0]
                    if index.isdigit() and int(index) >= k:
                        del state[key]
                elif k < full and key.startswith(base + "layer_norm.") \
                        and not transformer.layer_norm_first:
                    del state[key]

        self._register_load_state_dict_pre_hook(drop_extra_keys)

    def restore_kwargs(self) -> dict[str, Any]:
        """Arguments that rebuild this architecture without the pretrained file."""
        return dict(self._kwargs)

    def _load_backbone(self, state: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                       where: str) -> None:
        missing = sorted(set(target) - set(state))
        unexpected = sorted(set(state) - set(target))
        if missing or unexpected:
            raise PretrainedError(
                f"pretrained checkpoint {where} does not fit the backbone: missing "
                f"{', '.join(missing[:5]) or 'none'}{' ...' if len(missing) > 5 else ''}; "
                f"unexpected {', '.join(unexpected[:5]) or 'none'}"
                f"{' ...' if len(unexpected) > 5 else ''}"
            )
        for key, value in state.items():
            if value.shape != target[key].shape:
                raise PretrainedError(f"pretrained checkpoint {where}: {key} has shape "
                                      f"{tuple(value.shape)}, the backbone "
                                      f"{tuple(target[key].shape)}")
        self.backbone.load_state_dict(state, strict=True)

    def features(self, x: torch.Tensor, lengths: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv feature extractor, padding-safe: (batch, time) -> (batch, frames, C)."""
        if x.shape[1] < self.receptive_field:
            x = nn.functional.pad(x, (0, self.receptive_field - x.shape[1]))
        padded = bool((lengths < x.shape[1]).any())
        h = x.unsqueeze(1)
        frames = lengths
        for layer in self.backbone.feature_extractor.conv_layers:
            h = layer.conv(h)
            frames = torch.div(frames - layer.kernel_size, layer.stride,
                               rounding_mode="floor") + 1
            frames = frames.clamp(min=1)
            if isinstance(layer.layer_norm, nn.GroupNorm) and padded:
                h = masked_group_norm(h, frames.clamp(max=h.shape[-1]), layer.layer_norm)
            elif layer.layer_norm is not None:
                h = layer.layer_norm(h)
            h = nn.functional.gelu(h)
        return h.transpose(1, 2), frames.clamp(max=h.shape[-1])

    def layer_outputs(self, feats: torch.Tensor, frames: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every encoder layer that exists, (batch, frames, dim) each.

        In training, layer drop skips each layer with probability ``layer_drop`` (a
        skipped layer passes its input on, as in fairseq and Hugging Face). The draws
        are made on the CPU (no device sync), keyed by :meth:`set_step_seed` when the
        loop set it, else from torch's (locally seeded) CPU generator. With
        ``activation_checkpointing``, each layer that runs in training with gradients
        is checkpointed (its activations recomputed in the backward pass). The last
        output gets the final layer norm of a pre-norm (large) transformer, which its
        full forward applies, so every parameter in the path is used and ``layers =
        "last"`` equals the backbone's own forward.
        """
        encoder = self.backbone.encoder
        transformer = encoder.transformer
        x, mask = encoder._preprocess(feats, frames)
        x = transformer._preprocess(x)
        layers = transformer.layers
        skip = [False] * len(layers)
        if self.training and self.layer_drop > 0:
            generator = None
            if self._step_seed is not None:
                generator = torch.Generator().manual_seed(self._step_seed)
            skip = (torch.rand(len(layers), generator=generator) < self.layer_drop).tolist()
        recompute = (self.activation_checkpointing and self.training
                     and torch.is_grad_enabled())
        outputs = []
        position_bias = None
        for layer, skipped in zip(layers, skip):
            if recompute and not skipped:
                x, position_bias = checkpoint(layer, x, mask, position_bias=position_bias,
                                              use_reentrant=False)
            elif not skipped:
                x, position_bias = layer(x, mask, position_bias=position_bias)
            outputs.append(x)
        if not transformer.layer_norm_first:
            outputs[-1] = transformer.layer_norm(outputs[-1])
        return outputs

    def hidden(self, x: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone output before pooling: (batch, frames, dim) and frame lengths (the
        waveform normalised first where ``normalize``)."""
        x, lengths = check_batch(x, lengths)
        if self.normalize:
            x = normalize_waveform(x, lengths)
        feats, frames = self.features(x, lengths)
        outputs = self.layer_outputs(feats, frames)
        if self.layers == "weighted":
            w = torch.softmax(self.layer_weights, dim=0)
            return sum(wi * hi for wi, hi in zip(w, outputs)), frames
        return outputs[-1], frames  # "last", or layer k (the stack ends at k)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Utterance embedding the head sees: (batch, time) -> (batch, embedding_dim),
        the backbone output pooled over valid frames (mean, or attentive mean and std)."""
        h, frames = self.hidden(x, lengths)
        return self.pool(h, frames) if self.pool is not None else masked_mean(h, frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x, lengths)))


register_model("ssl")(SSLDetector)
