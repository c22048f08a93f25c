"""A profile's results as a small document to commit (for example ``docs/results/<profile>.md``).

The document holds every generated table (with the published numbers beside the
measured ones, as in ``results/<profile>/results.md``), the wall time of every job
(from Snakemake's ``benchmark`` files), the tidy metrics as CSV and the figures as
PNGs shrunk to a byte budget, so that a run on a machine nobody else can see
leaves a record a reader can check. Nothing in it is typed by hand.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from subsetgrad.bench.io import atomic_path, write_text
from subsetgrad.bench.results.summary import results_section

#: Longest side of a figure in the document, in pixels (the originals stay in results/).
MAX_IMAGE_SIDE = 1100


def job_wall_times(benchmark_dir: Path) -> pd.DataFrame:
    """One row per job: its benchmark file's name (rule and wildcards), wall seconds, CPU seconds."""
    rows = []
    for path in sorted(Path(benchmark_dir).rglob("*.tsv")):
        frame = pd.read_csv(path, sep="\t")
        if frame.empty:
            continue
        job = str(path.relative_to(benchmark_dir).with_suffix(""))
        cpu = frame["cpu_time"].iloc[0] if "cpu_time" in frame else float("nan")
        rows.append(
            {
                "job": job,
                "wall_s": float(frame["s"].iloc[0]),
                "cpu_s": float(cpu),
                "max_rss_mb": float(frame["max_rss"].iloc[0]) if "max_rss" in frame else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["job", "wall_s", "cpu_s", "max_rss_mb"])


def _job_table(times: pd.DataFrame) -> str:
    if times.empty:
        return "No benchmark files were found."
    shown = times.copy()
    for column in ("wall_s", "cpu_s", "max_rss_mb"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
    total = (
        f"{len(times)} jobs; sum of wall times {times.wall_s.sum() / 60:,.1f} min; "
        f"sum of CPU times {times.cpu_s.sum() / 60:,.1f} min."
    )
    header = "| job | wall (s) | CPU (s) | max RSS (MB) |\n|---|---:|---:|---:|\n"
    body = "".join(f"| `{r.job}` | {r.wall_s} | {r.cpu_s} | {r.max_rss_mb} |\n" for r in shown.itertuples())
    return total + "\n\n" + header + body


def shrink_png(source: Path, destination: Path, max_side: int = MAX_IMAGE_SIDE) -> int:
    """Copy a PNG with its longest side at most ``max_side`` and a 256-colour palette; return bytes."""
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
        scale = max_side / max(image.size)
        if scale < 1:
            image = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
            )
        buffer = io.BytesIO()
        image.quantize(colors=256).save(buffer, format="PNG", optimize=True)
    with atomic_path(destination) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def write_results_document(
    profile: str,
    sections: Sequence[tuple[str, str, Path]],
    figures: Mapping[str, Sequence[Path]],
    metrics_csv: Path,
    benchmark_dir: Path,
    markdown: Path,
    csv: Path,
    image_dir: Path,
    max_image_bytes: int,
) -> None:
    """Write the document ``markdown``, its metrics ``csv`` and its figures under ``image_dir``.

    Figures are shrunk; if they still exceed ``max_image_bytes`` in all, the trailing
    figures of each task are left out (listed in the document) until they fit.
    """
    markdown, image_dir = Path(markdown), Path(image_dir)
    if image_dir.exists():
        shutil.rmtree(image_dir)  # figures of an earlier run must not linger beside new ones
    copied: dict[str, list[Path]] = {}
    left_out: list[str] = []
    used = 0
    # the first figure of every task first, then the others, so every task keeps one
    ordered = [(task, i, Path(p)) for task, paths in figures.items() for i, p in enumerate(paths)]
    for task, _, source in sorted(ordered, key=lambda item: item[1]):
        destination = image_dir / source.name
        size = shrink_png(source, destination)
        if used + size > max_image_bytes:
            destination.unlink()
            left_out.append(source.name)
            continue
        used += size
        copied.setdefault(task, []).append(destination)
    section = results_section(
        profile,
        sections,
        copied,
        relative_to=markdown.parent,
        origin="written here by the workflow's `results_document` rule",
    )
    times = job_wall_times(benchmark_dir)
    lines = [
        f"# Results of the `{profile}` profile",
        "",
        section.rstrip(),
        "",
        "## Wall time of every job",
        "",
        "From Snakemake's benchmark file of each job (`results/" + profile + "/benchmarks/`).",
        "",
        _job_table(times),
        "",
    ]
    if left_out:
        lines += [
            f"Figures left out to keep the images under {max_image_bytes / 2**20:.1f} MiB: "
            + ", ".join(left_out)
            + f" (in `results/{profile}/`).",
            "",
        ]
    write_text(markdown, "\n".join(lines).rstrip() + "\n")
    with atomic_path(csv) as tmp:
        shutil.copyfile(metrics_csv, tmp)
