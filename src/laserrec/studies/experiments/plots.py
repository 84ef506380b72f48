"""The experiments' figures (matplotlib, no display): grouped bars and line plots, small PNGs."""

from __future__ import annotations

from pathlib import Path

from laserrec.errors import ConfigError

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - the experiments extra is not installed
    raise ConfigError(
        "the experiments' figures need matplotlib: pip install 'laserrec[experiments]'"
    ) from None


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def grouped_bars(
    groups: list[str],
    series: dict[str, list[float]],
    path: Path,
    title: str,
    ylabel: str,
    errors: dict[str, list[float]] | None = None,
) -> None:
    """One cluster of bars per group, one bar per series (``series[name][i]`` belongs to ``groups[i]``)."""
    fig, ax = plt.subplots(figsize=(max(5.5, 1.1 * len(groups) * max(1, len(series)) ** 0.5), 3.8))
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        err = (errors or {}).get(name)
        ax.bar(xs, values, width, label=name, yerr=err, capsize=3 if err else 0)
    tilted = len(groups) > 6
    ax.set_xticks(
        range(len(groups)), groups, rotation=20 if tilted else 0, ha="right" if tilted else "center"
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    below = -0.42 if tilted else -0.12  # under the (tilted) group labels
    ax.legend(fontsize=7, ncol=min(len(series), 5), loc="upper center", bbox_to_anchor=(0.5, below))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def horizontal_bars(labels: list[str], values: list[float], path: Path, title: str, xlabel: str) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(labels) + 1.2))
    ax.barh(range(len(labels)), values, color=["tab:blue"] + ["tab:gray"] * (len(labels) - 1))
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def line_panels(
    panels: list[tuple[str, list, dict[str, list[float]]]],
    path: Path,
    title: str,
    ylabel: str,
    log_x: bool = False,
) -> None:
    """One subplot per (x label, x values, {series: y values}); missing values (None) are left out."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels) + 0.5, 3.0), squeeze=False)
    for ax, (xlabel, xs, series) in zip(axes[0], panels, strict=True):
        for name, ys in series.items():
            points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        if log_x:
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
