"""Roofline plots of a Profile (matplotlib, imported only here and only when a plot is asked for).

x: arithmetic intensity (flops per byte moved), y: achieved GFLOP/s, both log scale; the roof is
min(gemm GFLOP/s, copy GB/s * intensity). Kernels without flops (copies, gathers) have no place on a roofline's
log axes: they are listed beside the plot with their GB/s against the copy roof instead.
"""
from __future__ import annotations

from .errors import BackendError

LEGEND_KERNELS = 10          # the slowest kernels get a colour, a label and a legend entry; the rest are grey


def plot(profile, path, roofs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BackendError("roofline: needs matplotlib (pip install 'vive[examples]')") from None
    bw, peak = float(roofs["copy_gbps"]), float(roofs["gemm_gflops"])
    pts = [k for k in profile.kernels if k.flops > 0 and k.bytes > 0 and k.seconds > 0]
    flat = [k for k in profile.kernels if not (k.flops > 0 and k.bytes > 0) and k.seconds > 0]
    xs = [k.intensity for k in pts]
    lo = min(xs + [peak / bw]) / 8
    hi = max(xs + [peak / bw]) * 8
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    ridge = peak / bw
    ax.plot([lo, ridge, hi], [bw * lo, peak, peak], color="black", lw=2,
            label=f"roof: copy {bw:.1f} GB/s, gemm {peak:.1f} GFLOP/s")
    ax.axvline(ridge, color="grey", lw=0.8, ls=":")
    total = sum(k.seconds for k in profile.kernels) or 1.0
    cmap = plt.get_cmap("tab10")
    ranked = sorted(pts, key=lambda k: -k.seconds)
    for i, k in enumerate(ranked):
        size = 20 + 600 * k.seconds / total          # area ~ share of the time
        if i < LEGEND_KERNELS:
            ax.scatter([k.intensity], [k.gflops], s=size, color=cmap(i % 10), alpha=0.8, edgecolor="black",
                       label=f"{k.name} ({k.kind}) {k.seconds * 1e6:.0f} us, {k.gflops:.1f} GFLOP/s")
            ax.annotate(k.name, (k.intensity, k.gflops), fontsize=7, xytext=(4, 4), textcoords="offset points")
        else:
            ax.scatter([k.intensity], [k.gflops], s=size, color="lightgrey", edgecolor="grey",
                       label=f"{len(ranked) - LEGEND_KERNELS} more kernels" if i == LEGEND_KERNELS else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ys = [k.gflops for k in pts] + [bw * lo, peak]
    ax.set_ylim(min(ys) / 4, peak * 4)
    ax.set_xlabel("arithmetic intensity (flops / byte moved)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"roofline of {profile.name} ({profile.backend}, {profile.seconds * 1e3:.3f} ms per call)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=0.5, frameon=False)
    if flat:
        text = "no flops (GB/s vs copy roof):\n" + "\n".join(
            f"{k.name}: {k.gbps:.1f} GB/s ({k.gbps / bw:.0%})" for k in sorted(flat, key=lambda k: -k.seconds)[:8])
        ax.text(0.01, 0.99, text, transform=ax.transAxes, va="top", fontsize=7, family="monospace")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
