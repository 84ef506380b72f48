"""Per-layer bottleneck adapters attached to a frozen decoder through forward hooks (no forked model file).

With ``y = layer(x)`` (x the layer's input hidden states, y its output) an adapter ``A(v) = up(act(down(v)))``
changes the layer output to

- serial:   ``y + A(y)``  — after the layer, fed its output;
- parallel: ``y + A(x)``  — alongside the whole layer, fed its input.

``up`` starts at zero, so a fresh model computes exactly what the frozen LLM computes. Hooks are attached
only for the duration of one forward (``LayerAdapters.attached``), so the backbone module itself is left
untouched between calls and may be shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from laserrec.errors import ConfigError


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a transformers base model (Llama family: ``layers``; GPT-2: ``h``)."""
    for name in ("layers", "h"):
        layers = getattr(model, name, None)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise ConfigError(f"cannot find the decoder layers of {type(model).__name__} (expected .layers or .h)")


class Adapter(nn.Module):
    """Bottleneck MLP. Input/Output shape: (..., H) float32; zero output at initialisation."""

    def __init__(self, hidden: int, size: int, dropout: float) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.drop(self.act(self.down(x))))


def _hook(adapter: Adapter, mode: str):
    def hook(module: nn.Module, args: tuple, kwargs: dict, output):
        y = output[0] if isinstance(output, tuple) else output  # (B, T, H) in the LLM's dtype
        source = y if mode == "serial" else (args[0] if args else kwargs["hidden_states"])
        y = y + adapter(source.float()).to(y.dtype)  # trained in fp32, cast at the join
        return (y, *output[1:]) if isinstance(output, tuple) else y

    return hook


class LayerAdapters(nn.Module):
    """One adapter per decoder layer, each "serial" or "parallel" as ``layout`` says."""

    def __init__(self, layout: list[str], hidden: int, size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layout = list(layout)
        self.adapters = nn.ModuleList(Adapter(hidden, size, dropout) for _ in layout)

    @contextmanager
    def attached(self, layers: nn.ModuleList) -> Iterator[None]:
        """Hooks on ``layers`` while the block runs; removed afterwards even on error."""
        if len(layers) != len(self.adapters):
            raise ConfigError(f"{len(self.adapters)} adapters for {len(layers)} decoder layers")
        handles = [
            layer.register_forward_hook(_hook(adapter, mode), with_kwargs=True)
            for layer, adapter, mode in zip(layers, self.adapters, self.layout, strict=True)
        ]
        try:
            yield
        finally:
            for h in handles:
                h.remove()
