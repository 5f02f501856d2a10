"""Which layers an atlas covers and how their channels are cut into batches.

Batches are fixed slices of each layer (channels ``k*B .. k*B+B-1``), not "whatever is missing": a rerun,
a resumed run and a Ray run all render the same channel in the same batch, with the same images per
forward pass, so the floating-point work per image is the same everywhere (see the reproducibility guarantee in docs/library.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from featviz_core.atlas import AtlasError


@dataclass(frozen=True)
class Plan:
    """How a store's channels are rendered.

    Attributes:
        batch: channels per batch (one render call; the unit of resumption and of a Ray task).
        images_per_pass: images per forward pass inside a batch (``render(batch_size=...)``).
    """

    batch: int
    images_per_pass: int

    def to_json(self) -> dict[str, int]:
        return {"batch": self.batch, "images_per_pass": self.images_per_pass}

    @classmethod
    def from_json(cls, data) -> "Plan":
        try:
            plan = cls(int(data["batch"]), int(data["images_per_pass"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AtlasError(f"the manifest has no valid batch plan ({exc})") from None
        if plan.batch < 1 or plan.images_per_pass < 1:
            raise AtlasError(f"the manifest's batch plan is invalid: {plan.to_json()}")
        return plan


@dataclass(frozen=True)
class Batch:
    """Channels ``channels`` of ``layer``, rendered together."""

    layer: str
    channels: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.layer}:{self.channels[0]}-{self.channels[-1]}"


def select_layers(model: str, text: str) -> dict[str, int]:
    """``"main"`` (the model's main layers), ``"all"`` (every targetable layer) or ``"a,b"`` ->
    {layer: channel count}, in network order.

    Raises:
        AtlasError: an unknown layer (the message lists the main layers and how to list all of them).
    """
    from featviz_core.models import get_spec, layer_table

    spec = get_spec(model)
    table = {info.name: info.channels for info in layer_table(model, spec.native_size)}
    wanted = (text or "").strip()
    if wanted == "all":
        return dict(table)
    if wanted == "main":
        return {name: count for name, count in table.items() if name in spec.featured_layers}
    names = [part.strip() for part in wanted.split(",") if part.strip()]
    if not names:
        raise AtlasError("--layers is empty; name layers (mixed4a,mixed4b), or say main or all")
    for name in names:
        if name not in table:
            shown = repr(name) if len(name) <= 40 else repr(name[:40]) + "..."
            raise AtlasError(
                f"unknown layer {shown} for {model}; main layers are {', '.join(spec.featured_layers)} "
                f"(all {len(table)} are listed by `python -m featviz_core layers --model {model}`)"
            )
    order = list(table)
    return {name: table[name] for name in sorted(dict.fromkeys(names), key=order.index)}


def batches(layers: dict[str, int], batch: int) -> list[Batch]:
    """Every batch of every layer, in order: channels 0..B-1, B..2B-1, ... of each layer."""
    return [Batch(layer, tuple(range(start, min(start + batch, count))))
            for layer, count in layers.items() for start in range(0, count, batch)]
