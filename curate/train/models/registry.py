"""The model registry: detectors by name, built from plain keyword arguments (so an
experiment file can name them and a checkpoint can rebuild them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under ``name`` for :func:`build_model`.

    A factory takes keyword arguments only, including ``sample_rate`` (Hz, which the
    training loop always passes), and returns an ``nn.Module`` mapping
    ``(x (batch, time), lengths (batch,))`` to logits ``(batch, 2)``, index 1 = bonafide.
    """

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS and MODELS[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered; pick another name")
        MODELS[name] = factory
        return factory

    return wrap


def model_arguments(name: str) -> set[str] | None:
    """Keyword arguments the factory of ``name`` accepts (None: it takes any)."""
    import inspect

    factory = MODELS[name]
    target = factory.__init__ if isinstance(factory, type) else factory
    params = inspect.signature(target).parameters.values()
    names = {p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        extra = getattr(factory, "extra_arguments", None)  # what **kwargs passes on
        return None if extra is None else names | set(extra)
    return names


def model_argument_types(name: str) -> dict[str, tuple[Any, Any]]:
    """Annotated type and default of each keyword argument the factory of ``name`` takes.

    Arguments that ``**kwargs`` passes on are included where the factory names their
    destination (``extra_arguments_from``, as :class:`SmallCNN` does). An argument
    without an annotation maps to ``Any``; one without a default to
    ``inspect.Parameter.empty``. Experiment files check their ``[model]`` values
    against these types.
    """
    import inspect
    import typing

    out: dict[str, tuple[Any, Any]] = {}

    def add(target: Any, names: set[str] | None = None) -> None:
        target = target.__init__ if isinstance(target, type) else target
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # an annotation that does not resolve: no type to check
            hints = {}
        for p in inspect.signature(target).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if names is None or p.name in names:
                out.setdefault(p.name, (hints.get(p.name, Any), p.default))

    factory = MODELS[name]
    add(factory)
    source = getattr(factory, "extra_arguments_from", None)
    if source is not None:
        add(source, set(getattr(factory, "extra_arguments", ())))
    return out


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered detector by name, e.g. ``build_model("small_cnn", n_mels=40)``."""
    if name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    allowed = model_arguments(name)
    unknown = sorted(set(kwargs) - allowed) if allowed is not None else []
    if unknown:
        raise ValueError(f"model {name!r} has no argument(s) {', '.join(unknown)}; its "
                         f"arguments: {', '.join(sorted(allowed - {'sample_rate'}))}")
    return MODELS[name](**kwargs)


def restore_kwargs(model: nn.Module, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that rebuild ``model`` without outside files (a pretrained
    SSL checkpoint, say): the model's own ``restore_kwargs()`` where it has one."""
    own = getattr(model, "restore_kwargs", None)
    return dict(own()) if callable(own) else dict(kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
