"""Benchmark of the fused relaxed top-k against the textbook autograd loop and the floor.

For batch B = 100 and each (n, k), float32 and float64, on CPU (and CUDA when
available), in one process:

* time of forward + backward (median, ``torch.utils.benchmark``) of
  (a)  the library op ``subsetgrad.relaxed_topk``;
  (a') the library op with ``recompute=True``;
  (b)  the textbook autograd loop (``textbook_relaxed_topk`` below, the baseline);
  (c)  the floor: k softmax forward kernels plus k softmax backward kernels over
       ``[B, n]``, called directly (no autograd, no other operation);
  (d)  for reference, the k - 1 ``log1p`` kernels over ``[B, n]`` that the library's
       Algorithm 2 needs beyond the floor (``d/c`` bounds how close to the floor any
       implementation that calls torch.log1p can come; the textbook loop calls
       torch.log, which costs more);
  (t)  optionally (``--compile``, CPU) two uses of ``torch.compile``: the whole
       library op compiled (``t op``), and the same algorithm with its per-step
       forward and backward kernels compiled by inductor inside a hand-written
       autograd function (``t steps``, :class:`CompiledStepsRelaxedTopK` below);
* bytes saved for the backward (``torch.autograd.graph.saved_tensors_hooks``;
  tensors sharing storage are counted once) for (a), (a') and (b);
* ratios a/b (time), a/c (time), a/b (saved bytes), and a'/b for both.

Each configuration is first checked: the library's values and gradients must
match the textbook loop's. Clock: on CPU with one torch thread, the CPU time of
the process (``time.process_time``), which other processes on a shared machine
disturb far less than wall time; otherwise wall time (CUDA: synchronised).
Run from the repository root::

    .venv/bin/python benchmarks/bench_relaxed_topk.py              # full table
    .venv/bin/python benchmarks/bench_relaxed_topk.py --quick      # seconds: smoke run
    .venv/bin/python benchmarks/bench_relaxed_topk.py --compile    # adds torch.compile rows
    .venv/bin/python benchmarks/bench_relaxed_topk.py --cpu-ratio  # the CPU ratios at n=1000, k=10
    .venv/bin/python benchmarks/bench_relaxed_topk.py --gpu        # the GPU table (needs CUDA)

Targets, for n >= 1000: a/b time <= 0.5, a/b bytes <= 0.4 (2.5x
fewer), a/c time <= 1.5.

GPU mode (``--gpu``): float32 on CUDA, n from 10^3 to 10^6 and k from 10 to 256,
with a batch of about 10^7 / n rows (``--batch`` overrides), timing (a), (b) and
(c) as above (the library op is the Triton kernels where Triton is installed)
and adding the peak memory of one forward + backward above what was allocated
before it, and the achieved memory bandwidth of the library op: the bytes its
kernels must move (:func:`kernel_bytes`) over its time, as a fraction of the
device's peak (:data:`PEAK_BANDWIDTH_GBPS` by device name, or ``--peak-bandwidth``).
Targets: a/b time <= 0.2 at n = 10^4, k = 100; at least half the peak bandwidth
at n >= 10^5.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils import benchmark

try:
    from subsetgrad import relaxed_topk
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from subsetgrad import relaxed_topk

FULL_SIZES = [(100, 9), (400, 10), (1000, 10), (10000, 10), (10000, 100)]
QUICK_SIZES = [(100, 9), (1000, 10)]
GPU_SIZES = [(n, k) for n in (10**3, 10**4, 10**5, 10**6) for k in (10, 100, 256)]
BATCH = 100
TAU = 0.5
# GPU mode: about this many scores per batch (B = GPU_ELEMENTS // n rows)
GPU_ELEMENTS = 10**7

#: Peak DRAM bandwidth (GB/s) from the vendors' data sheets, matched as a substring of
#: ``torch.cuda.get_device_name()`` (first match wins: the longer names come first).
PEAK_BANDWIDTH_GBPS = {
    "H200": 4800.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,
    "GH200": 4000.0,
    "B200": 8000.0,
    "A100-SXM4-80GB": 2039.0,
    "A100-PCIE-80GB": 1935.0,
    "A100 80GB PCIe": 1935.0,
    "A100": 1555.0,
    "A10G": 600.0,
    "A10": 600.0,
    "L40S": 864.0,
    "L40": 864.0,
    "L4": 300.0,
    "V100": 900.0,
    "T4": 320.0,
    "RTX 4090": 1008.0,
    "RTX 3090": 936.0,
    "RTX A6000": 768.0,
    "RTX 6000 Ada": 960.0,
}


def textbook_relaxed_topk(scores: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    """The baseline: paper Algorithm 2 as a plain autograd loop."""
    tiny = torch.finfo(scores.dtype).tiny
    r = scores
    a = None
    steps = []
    for _ in range(k):
        if a is not None:
            r = r + torch.log(torch.clamp(1.0 - a, min=tiny))
        a = torch.softmax(r / tau, dim=-1)
        steps.append(a)
    return torch.stack(steps, dim=-2).sum(-2)


def floor_kernels(scores: torch.Tensor, grad: torch.Tensor, k: int) -> torch.Tensor:
    """k softmax forward and k softmax backward kernels over the same size, nothing else."""
    with torch.no_grad():
        for _ in range(k):
            out = torch._softmax(scores, -1, False)
            grad_in = torch._softmax_backward_data(grad, out, -1, scores.dtype)
    return grad_in


def log_kernels(values: torch.Tensor, k: int) -> torch.Tensor:
    """The k - 1 elementwise logarithms of Algorithm 2, as the library takes them: log1p(-a)
    (``values`` is -a, in [-1, 0])."""
    with torch.no_grad():
        for _ in range(k - 1):
            out = torch.log1p(values)
    return out


def forward_backward(op, scores, grad, k):
    out = op(scores, k, TAU)
    return torch.autograd.grad(out, scores, grad)[0]


def saved_bytes(op, scores, k) -> int:
    """Bytes of the distinct storages that autograd saves for the backward of ``op``."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[(t.device, storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = op(scores, k, TAU)
    del out
    return sum(seen.values())


def _cuda_wall_clock() -> float:
    torch.cuda.synchronize()
    return time.perf_counter()


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def median_seconds(fn, min_run_time: float, quick: bool, clock) -> float:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, timer=clock)
    if quick:
        return timer.timeit(3).median
    return timer.blocked_autorange(min_run_time=min_run_time).median


def check_against_textbook(op, scores, grad, k, name):
    out = op(scores, k, TAU)
    ref = textbook_relaxed_topk(scores, k, TAU)
    (g,) = torch.autograd.grad(out, scores, grad)
    (g_ref,) = torch.autograd.grad(ref, scores, grad)
    rtol = 1e-10 if scores.dtype == torch.float64 else 1e-5
    atol_out = rtol
    atol_grad = rtol * max(1.0, float(g_ref.abs().max()))
    torch.testing.assert_close(out, ref, rtol=rtol, atol=atol_out, msg=lambda m: f"{name} values: {m}")
    torch.testing.assert_close(g, g_ref, rtol=rtol, atol=atol_grad, msg=lambda m: f"{name} gradients: {m}")


@dataclass
class Row:
    device: str
    dtype: str
    n: int
    k: int
    lib: float
    recompute: float
    textbook: float
    floor: float
    logs: float
    lib_bytes: int
    recompute_bytes: int
    textbook_bytes: int
    compiled: dict[str, float | None] | None = None


class CompiledStepsRelaxedTopK(torch.autograd.Function):
    """Algorithm 2 with inductor-compiled step kernels (the ``t steps`` row).

    The same forward/backward recurrences as the library (see
    subsetgrad._relaxed_kernels), each step one compiled function; ``tau`` is a
    0-d tensor so that new temperatures do not recompile. Values agree with the
    textbook loop to rounding (inductor's log/exp are not ATen's).
    """

    kernels = None

    @staticmethod
    def build():
        def first_step(scores, tau, a_out):
            a_out.copy_(torch.softmax(scores / tau, dim=-1))

        def next_step(r_prev, a_prev, tau, r_out, a_out):
            tiny = torch.finfo(r_prev.dtype).tiny
            r = r_prev + torch.log(torch.clamp(1.0 - a_prev, min=tiny))
            r_out.copy_(r)
            a_out.copy_(torch.softmax(r / tau, dim=-1))

        def last_backward(g, a, u_out):
            u_out.copy_(a * (g - (a * g).sum(-1, keepdim=True)))

        def backward_step(g, u, a, tau, u_out):
            tiny = torch.finfo(a.dtype).tiny
            c = 1.0 - a
            grad = g - torch.where(c >= tiny, u / torch.clamp(c, min=tiny), 0.0) / tau
            u_out.copy_(u + a * (grad - (a * grad).sum(-1, keepdim=True)))

        compile_ = lambda f: torch.compile(f, dynamic=False, fullgraph=True)  # noqa: E731
        return tuple(compile_(f) for f in (first_step, next_step, last_backward, backward_step))

    @staticmethod
    def forward(ctx, scores, k, tau):
        first_step, next_step, _, _ = CompiledStepsRelaxedTopK.kernels
        tau_t = torch.tensor(tau, dtype=scores.dtype, device=scores.device)
        steps = torch.empty((k, *scores.shape), dtype=scores.dtype, device=scores.device)
        r = torch.empty_like(scores)
        first_step(scores, tau_t, steps[0])
        for j in range(1, k):
            next_step(scores if j == 1 else r, steps[j - 1], tau_t, r, steps[j])
        ctx.save_for_backward(steps, tau_t)
        return steps.sum(0)

    @staticmethod
    def backward(ctx, grad):
        _, _, last_backward, backward_step = CompiledStepsRelaxedTopK.kernels
        steps, tau_t = ctx.saved_tensors
        k = steps.shape[0]
        grad = grad.contiguous()
        u, spare = torch.empty_like(grad), torch.empty_like(grad)
        last_backward(grad, steps[k - 1], u)
        for j in range(k - 2, -1, -1):
            backward_step(grad, u, steps[j], tau_t, spare)
            u, spare = spare, u
        return u / tau_t, None, None


def compiled_ops():
    """``{"t op": ..., "t steps": ...}``; an entry is None where compilation is unavailable."""
    ops = {}
    try:
        ops["t op"] = torch.compile(relaxed_topk, dynamic=False)
    except Exception as err:  # no compiler, unsupported platform
        print(f"# torch.compile(relaxed_topk) unavailable: {type(err).__name__}: {err}")
        ops["t op"] = None
    try:
        CompiledStepsRelaxedTopK.kernels = CompiledStepsRelaxedTopK.build()
        ops["t steps"] = lambda s, k, tau: CompiledStepsRelaxedTopK.apply(s, k, tau)
    except Exception as err:
        print(f"# compiled step kernels unavailable: {type(err).__name__}: {err}")
        ops["t steps"] = None
    return ops


def peak_bandwidth_gbps(device_name: str) -> float | None:
    for name, gbps in PEAK_BANDWIDTH_GBPS.items():
        if name in device_name:
            return gbps
    return None


def kernel_bytes(batch: int, n: int, k: int, element: int, on_chip: bool) -> int:
    """Bytes the library's Triton kernels read and write for one forward + backward.

    On chip, the forward reads the scores and writes k steps and their sum; the
    backward reads the k steps, the incoming gradient and writes the gradient:
    (2k + 4) rows. Tiled, the forward also reads and writes the scratch row r on
    every step and sweeps the sum (read and write) on every step, and the backward
    reads the steps, the gradient and U twice per step and writes U once per step.
    """
    row = n * element
    if on_chip:
        return batch * row * (2 * k + 4)
    forward = 3 + k * (2 + 1 + 2)  # copy in (read s, write r, zero sum); per step r r/w, a, sum r/w
    backward = k * (3 + 4) + 2  # per step: sweep 1 reads a, g, U; sweep 2 reads them, writes U; last /tau
    return batch * row * (forward + backward)


def markdown_table(lines: list[list[str]]) -> str:
    """A right-aligned Markdown table; the first line is the header."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for i, line in enumerate(lines):
        out.append("| " + " | ".join(cell.rjust(w) for cell, w in zip(line, widths)) + " |")
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


@dataclass
class GpuRow:
    dtype: str
    n: int
    k: int
    batch: int
    lib: float
    textbook: float | None
    floor: float
    lib_peak: int | None
    textbook_peak: int | None
    moved: int


def peak_memory(fn, device) -> int:
    """Peak device memory allocated by ``fn()`` above what was allocated before it."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def run_gpu_config(device, dtype, n, k, batch, args) -> GpuRow:
    gen = torch.Generator(device="cpu").manual_seed(1000 * n + k)
    scores = torch.randn(batch, n, generator=gen, dtype=dtype).to(device).requires_grad_()
    grad = torch.randn(batch, n, generator=gen, dtype=dtype).to(device)
    on_cuda = torch.device(device).type == "cuda"
    clock = _cuda_wall_clock if on_cuda else time.perf_counter
    if batch * n <= 10**6:  # the check keeps the textbook's graph: only where it is small
        check_against_textbook(relaxed_topk, scores, grad, k, "library op")

    def timed(op):
        return median_seconds(
            lambda: forward_backward(op, scores, grad, k), args.min_run_time, args.quick, clock
        )

    def measure_peak(op):
        if not on_cuda:
            return None  # torch tracks the peak of CUDA memory only
        return peak_memory(lambda: forward_backward(op, scores, grad, k), device)

    textbook_time = textbook_peak = None
    # the textbook loop saves about 3k score-sized tensors: skipped where they would not fit
    textbook_bytes = 3 * k * batch * n * scores.element_size()
    free = torch.cuda.mem_get_info(device)[0] if on_cuda else float("inf")
    if textbook_bytes < 0.8 * free:
        textbook_time = timed(textbook_relaxed_topk)
        textbook_peak = measure_peak(textbook_relaxed_topk)
    try:
        from subsetgrad import _relaxed_triton

        on_chip = n <= _relaxed_triton.ON_CHIP_LIMIT[dtype]
    except ImportError:
        on_chip = True
    return GpuRow(
        dtype=str(dtype).replace("torch.", ""),
        n=n,
        k=k,
        batch=batch,
        lib=timed(relaxed_topk),
        textbook=textbook_time,
        floor=median_seconds(
            lambda: floor_kernels(scores.detach(), grad, k), args.min_run_time, args.quick, clock
        ),
        lib_peak=measure_peak(relaxed_topk),
        textbook_peak=textbook_peak,
        moved=kernel_bytes(batch, n, k, scores.element_size(), on_chip),
    )


def format_gpu_table(rows: list[GpuRow], peak_gbps: float | None) -> str:
    header = [
        "dtype", "n", "k", "B", "a lib ms", "b textbook ms", "c floor ms", "b/a speed-up", "a/c time",
        "a peak MiB", "b peak MiB", "a GB/s", "a % of peak",
    ]  # fmt: skip
    mib = 2.0**20
    lines = [header]
    for r in rows:
        gbps = r.moved / r.lib / 1e9
        lines.append(
            [
                r.dtype,
                str(r.n),
                str(r.k),
                str(r.batch),
                f"{r.lib * 1e3:.3f}",
                "-" if r.textbook is None else f"{r.textbook * 1e3:.3f}",
                f"{r.floor * 1e3:.3f}",
                "-" if r.textbook is None else f"{r.textbook / r.lib:.1f}",
                f"{r.lib / r.floor:.2f}",
                "-" if r.lib_peak is None else f"{r.lib_peak / mib:.1f}",
                "-" if r.textbook_peak is None else f"{r.textbook_peak / mib:.1f}",
                f"{gbps:.0f}",
                "-" if peak_gbps is None else f"{100 * gbps / peak_gbps:.0f}",
            ]
        )
    return markdown_table(lines)


def gpu_target_summary(rows: list[GpuRow], peak_gbps: float | None) -> str:
    lines = []
    speed = [r for r in rows if r.n == 10**4 and r.k == 100 and r.textbook is not None]
    for r in speed:
        lines.append(
            f"# gpu n=10^4 k=100: b/a speed-up {r.textbook / r.lib:.1f}x (target >= 5x: "
            f"{'met' if r.textbook / r.lib >= 5 else 'not met'})"
        )
    if not speed:
        lines.append("# gpu: no row at n=10^4, k=100: the speed-up target is not evaluated")
    big = [r for r in rows if r.n >= 10**5]
    if peak_gbps is None:
        lines.append("# gpu: peak bandwidth unknown for this device (--peak-bandwidth): target not evaluated")
    elif big:
        fractions = [r.moved / r.lib / 1e9 / peak_gbps for r in big]
        met = sum(f >= 0.5 for f in fractions)
        lines.append(
            f"# gpu n >= 10^5: achieved bandwidth {100 * min(fractions):.0f}%..{100 * max(fractions):.0f}% "
            f"of peak (target >= 50%: met in {met} of {len(fractions)} rows)"
        )
    return "\n".join(lines)


def main_gpu(args, parser) -> int:
    device = args.gpu_device
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--gpu needs a CUDA device (torch.cuda.is_available() is False)")
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else device
    peak = args.peak_bandwidth if args.peak_bandwidth is not None else peak_bandwidth_gbps(name)
    sizes = (
        [tuple(int(v) for v in item.split(":")) for item in args.sizes.split(",")]
        if args.sizes
        else GPU_SIZES
    )
    from subsetgrad.relaxed import _triton_kernels, _use_triton

    if _use_triton(torch.empty(0, device=device)):
        backend = f"Triton {_triton_kernels().triton.__version__} kernels"
    else:
        backend = "the fused PyTorch op (Triton kernels run for CUDA tensors with Triton installed)"
    print(
        f"# relaxed top-k GPU benchmark: {name}, peak bandwidth "
        f"{'unknown' if peak is None else f'{peak:.0f} GB/s'}, torch {torch.__version__}, library op: "
        f"{backend}, tau {TAU}, float32, {'quick' if args.quick else f'min_run_time {args.min_run_time}s'}"
    )
    rows = []
    for n, k in sizes:
        batch = args.batch or max(1, GPU_ELEMENTS // n)
        row = run_gpu_config(device, torch.float32, n, k, batch, args)
        rows.append(row)
        speed = "-" if row.textbook is None else f"{row.textbook / row.lib:.1f}x"
        print(f"# done n={n} k={k} B={batch}: b/a {speed}, a/c {row.lib / row.floor:.2f}", flush=True)
    print(format_gpu_table(rows, peak))
    print(gpu_target_summary(rows, peak))
    return 0


def main_cpu_ratio(args) -> int:
    """The CPU target at n = 1000, k = 10, float32, batch 100, one thread, side by side.

    Each repeat times forward + backward calls of the library op, the textbook loop and
    the floor in turn, a few calls of each at a time after one untimed call (process CPU
    time), so that the three see the same load on a shared machine, each with its own
    data in the caches; it reports the medians over the repeat's calls.
    """
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(BATCH, 1000, generator=gen).requires_grad_()
    grad = torch.randn(BATCH, 1000, generator=gen)
    k = 10
    check_against_textbook(relaxed_topk, scores, grad, k, "library op")
    calls = {
        "lib": lambda: forward_backward(relaxed_topk, scores, grad, k),
        "textbook": lambda: forward_backward(textbook_relaxed_topk, scores, grad, k),
        "floor": lambda: floor_kernels(scores.detach(), grad, k),
    }
    for call in calls.values():  # warm-up: allocator, caches
        for _ in range(5):
            call()
    print(
        f"# CPU ratios: n=1000 k=10 float32 batch {BATCH}, 1 thread, process CPU time, "
        f"{args.repeats} repeats of {args.calls} calls of each, interleaved in runs of 4"
    )
    results = []
    for repeat in range(args.repeats):
        times = {name: [] for name in calls}
        for _ in range(max(1, args.calls // 4)):
            for name, call in calls.items():
                call()  # untimed: the caches and the allocator now hold this op's data, not the last op's
                for _ in range(4):
                    started = time.process_time()
                    call()
                    times[name].append(time.process_time() - started)
        lib, book, floor = (
            sorted(times[name])[len(times[name]) // 2] for name in ("lib", "textbook", "floor")
        )
        results.append((book / lib, lib / floor))
        print(
            f"repeat {repeat + 1}: lib {lib * 1e3:.3f} ms, textbook {book * 1e3:.3f} ms, "
            f"floor {floor * 1e3:.3f} ms: textbook/lib {book / lib:.2f}x, lib/floor {lib / floor:.2f}x",
            flush=True,
        )
    speed = sorted(r[0] for r in results)[len(results) // 2]
    to_floor = sorted(r[1] for r in results)[len(results) // 2]
    print(f"median: textbook/lib {speed:.2f}x (target >= 2), lib/floor {to_floor:.2f}x (target <= 1.5)")
    return 0


def run_config(device, dtype, n, k, args, compiled) -> Row:
    gen = torch.Generator(device="cpu").manual_seed(1000 * n + k)
    scores = torch.randn(BATCH, n, generator=gen, dtype=dtype).to(device).requires_grad_()
    grad = torch.randn(BATCH, n, generator=gen, dtype=dtype).to(device)
    lib = relaxed_topk

    def lib_recompute(s, kk, tau):
        return relaxed_topk(s, kk, tau, recompute=True)

    with torch.no_grad():
        minus_softmax = -torch.softmax(scores / TAU, dim=-1)
    check_against_textbook(lib, scores, grad, k, "library op")
    check_against_textbook(lib_recompute, scores, grad, k, "library op (recompute)")
    if device == "cuda":
        clock = _cuda_wall_clock
    else:
        clock = CLOCKS[args.clock]

    def timed(op):
        return median_seconds(
            lambda: forward_backward(op, scores, grad, k), args.min_run_time, args.quick, clock
        )

    row = Row(
        device=device,
        dtype=str(dtype).replace("torch.", ""),
        n=n,
        k=k,
        lib=timed(lib),
        recompute=timed(lib_recompute),
        textbook=timed(textbook_relaxed_topk),
        floor=median_seconds(
            lambda: floor_kernels(scores.detach(), grad, k), args.min_run_time, args.quick, clock
        ),
        logs=median_seconds(lambda: log_kernels(minus_softmax, k), args.min_run_time, args.quick, clock),
        lib_bytes=saved_bytes(lib, scores, k),
        recompute_bytes=saved_bytes(lib_recompute, scores, k),
        textbook_bytes=saved_bytes(textbook_relaxed_topk, scores, k),
    )
    if compiled and device == "cpu":
        row.compiled = {}
        for name, op in compiled.items():
            row.compiled[name] = None
            if op is None:
                continue
            try:
                started = time.perf_counter()
                check_against_textbook(op, scores, grad, k, name)
                print(
                    f"# {name} {row.dtype} n={n} k={k}: first call (compilation, wall) "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                row.compiled[name] = timed(op)
            except Exception as err:  # a compile failure must not end the benchmark
                print(f"# {name} failed for {row.dtype} n={n} k={k}: {type(err).__name__}: {str(err)[:300]}")
    return row


def format_table(rows: list[Row]) -> str:
    header = [
        "device",
        "dtype",
        "n",
        "k",
        "a lib ms",
        "a' recomp ms",
        "b textbook ms",
        "c floor ms",
        "a/b time",
        "a'/b time",
        "a/c time",
        "d/c time",
        "a MiB",
        "a' MiB",
        "b MiB",
        "a/b bytes",
        "a'/b bytes",
    ]
    compiled_names = sorted({name for r in rows if r.compiled for name in r.compiled})
    for name in compiled_names:
        header += [f"{name} ms", f"{name}/a time"]
    lines = [header]
    mib = 2.0**20
    for r in rows:
        line = [
            r.device,
            r.dtype,
            str(r.n),
            str(r.k),
            f"{r.lib * 1e3:.3f}",
            f"{r.recompute * 1e3:.3f}",
            f"{r.textbook * 1e3:.3f}",
            f"{r.floor * 1e3:.3f}",
            f"{r.lib / r.textbook:.2f}",
            f"{r.recompute / r.textbook:.2f}",
            f"{r.lib / r.floor:.2f}",
            f"{r.logs / r.floor:.2f}",
            f"{r.lib_bytes / mib:.1f}",
            f"{r.recompute_bytes / mib:.1f}",
            f"{r.textbook_bytes / mib:.1f}",
            f"{r.lib_bytes / r.textbook_bytes:.3f}",
            f"{r.recompute_bytes / r.textbook_bytes:.3f}",
        ]
        for name in compiled_names:
            t = (r.compiled or {}).get(name)
            line += ["-", "-"] if t is None else [f"{t * 1e3:.3f}", f"{t / r.lib:.2f}"]
        lines.append(line)
    return markdown_table(lines)


def target_summary(rows: list[Row]) -> str:
    """Per device, the worst and best row over n >= 1000 for each of the three targets."""
    lines = []
    for device in dict.fromkeys(r.device for r in rows):
        big = [r for r in rows if r.n >= 1000 and r.device == device]
        if not big:
            lines.append(f"# {device}: no row with n >= 1000, targets not evaluated")
            continue
        for label, ratio, target in (
            ("a/b time", lambda r: r.lib / r.textbook, 0.5),
            ("a/b bytes", lambda r: r.lib_bytes / r.textbook_bytes, 0.4),
            ("a/c time", lambda r: r.lib / r.floor, 1.5),
        ):
            values = [ratio(r) for r in big]
            met = sum(v <= target for v in values)
            lines.append(
                f"# {device} n >= 1000: {label} worst {max(values):.2f}, best {min(values):.2f} "
                f"(target <= {target:.2f}: met in {met} of {len(values)} rows)"
            )
        bound = min(1 + r.logs / r.floor for r in big)
        lines.append(
            f"# {device} n >= 1000: a/c >= 1 + d/c >= {bound:.2f} for any implementation that "
            f"runs the floor's kernels plus torch.log1p"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: two small sizes, few repeats")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--devices", default="auto", help="comma list of cpu,cuda (default: cpu and cuda if available)"
    )
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--sizes", default=None, help="comma list of n:k (default: the issue's five sizes)")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per timing (blocked_autorange)"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile variants on CPU (first calls compile: minutes)",
    )
    parser.add_argument(
        "--clock",
        choices=["auto", "cpu", "wall"],
        default="auto",
        help="CPU timings: process CPU time or wall time (auto: cpu with one thread, else wall)",
    )
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="GPU mode: float32 on CUDA, n 10^3..10^6, k 10..256, memory, bandwidth",
    )
    parser.add_argument("--gpu-device", default="cuda", help="device of --gpu (default cuda)")
    parser.add_argument("--batch", type=int, default=None, help="--gpu: rows per batch (default 10^7 / n)")
    parser.add_argument(
        "--peak-bandwidth", type=float, default=None, help="--gpu: the device's peak bandwidth in GB/s"
    )
    parser.add_argument(
        "--cpu-ratio", action="store_true", help="the CPU target only: n=1000, k=10, float32, repeated"
    )
    parser.add_argument("--repeats", type=int, default=5, help="--cpu-ratio: repeats (default 5)")
    parser.add_argument(
        "--calls",
        type=int,
        default=300,
        help="--cpu-ratio: calls of each op per repeat, interleaved in runs of 4 (default 300)",
    )
    args = parser.parse_args(argv)
    if args.batch is not None and args.batch < 1:
        parser.error(f"--batch must be at least 1, got {args.batch}")
    if args.gpu:
        return main_gpu(args, parser)
    if args.cpu_ratio:
        return main_cpu_ratio(args)

    torch.set_num_threads(args.threads)
    if args.clock == "auto":
        args.clock = "cpu" if args.threads == 1 else "wall"
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        for d in devices:
            if d not in ("cpu", "cuda"):
                parser.error(f"--devices: unknown device {d!r}; use cpu and/or cuda")
            if d == "cuda" and not torch.cuda.is_available():
                parser.error("--devices names cuda but torch.cuda.is_available() is False")
    dtypes = []
    for name in args.dtypes.split(","):
        if name.strip() not in ("float32", "float64"):
            parser.error(f"--dtypes: {name!r} is not float32 or float64")
        dtypes.append(getattr(torch, name.strip()))
    if args.sizes:
        sizes = [tuple(int(v) for v in item.split(":")) for item in args.sizes.split(",")]
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES

    print(
        f"# relaxed top-k benchmark: torch {torch.__version__}, python {platform.python_version()}, "
        f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"batch {BATCH}, tau {TAU}, CPU clock {args.clock}, "
        f"{'quick' if args.quick else f'min_run_time {args.min_run_time}s'}"
    )
    if "cuda" in devices:
        print(f"# cuda device: {torch.cuda.get_device_name()}")
    compiled = compiled_ops() if args.compile else None
    rows = []
    for device in devices:
        for dtype in dtypes:
            for n, k in sizes:
                row = run_config(device, dtype, n, k, args, compiled)
                rows.append(row)
                print(
                    f"# done {device} {row.dtype} n={n} k={k}: a/b {row.lib / row.textbook:.2f}, "
                    f"a/c {row.lib / row.floor:.2f}",
                    flush=True,
                )
    print(format_table(rows))
    print(target_summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
