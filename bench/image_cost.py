"""Image upload cost (IMG-1, issues 11 and 12): CPU time and peak memory of `process_image` per input.

    .venv/bin/python bench/image_cost.py [--runs 5]

Prints one row per input: a 12-megapixel phone photo (JPEG), a 24-megapixel JPEG, a 6000x6600 PNG
(the upload that stalled the web workers), a 16-megapixel noisy PNG; p50 and max of CPU seconds,
how much the peak resident set grew while decoding (Linux VmHWM after clear_refs), and the stored size. Each measurement runs in its own process
so one input's memory does not hide another's.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402


def photo(w: int, h: int, quality: int = 92) -> bytes:
    """A camera-like JPEG: smooth gradients plus sensor noise (compresses like a real photo)."""
    base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    noise = Image.effect_noise((w, h), 40).convert("RGB")
    img = Image.blend(base, noise, 0.35)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(w: int, h: int, noisy: bool) -> bytes:
    img = Image.effect_noise((w, h), 60) if noisy else Image.linear_gradient("L").resize((w, h))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the kernel's peak-RSS mark (Linux clear_refs 5) and return the current RSS in KB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _measure(raw: bytes, queue) -> None:
    from domain.images import ImageRejected, process_image

    process_image(photo(64, 48))  # warm up: Pillow's plugins and codecs loaded
    baseline = _reset_peak()
    start = time.process_time()
    try:
        stored = process_image(raw)
        outcome = f"{stored.width}x{stored.height} {stored.size // 1024} KB"
    except ImageRejected as exc:
        outcome = f"refused: {exc.message}"
    cpu = time.process_time() - start
    peak = _status_kb("VmHWM") - baseline  # the growth of the peak resident set while decoding
    queue.put((cpu, peak / 1024, outcome))


def run(raw: bytes, runs: int) -> tuple[list[float], float, str]:
    ctx = get_context("spawn")
    cpus, peaks, outcome = [], [], ""
    for _ in range(runs):
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(raw, queue))
        proc.start()
        cpu, peak, outcome = queue.get(timeout=300)
        proc.join()
        cpus.append(cpu)
        peaks.append(peak)
    return cpus, max(peaks), outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    inputs = [
        ("JPEG 4000x3000 (12 MP photo)", photo(4000, 3000)),
        ("JPEG 6000x4000 (24 MP)", photo(6000, 4000)),
        ("PNG 6000x6600 (gradient)", png(6000, 6600, noisy=False)),
        ("PNG 3000x3000 (noise)", png(3000, 3000, noisy=True)),
    ]
    print(f"image_cost  runs={args.runs}  cpus={os.cpu_count()}")
    print(f"{'input':32} {'file MB':>8} {'p50 CPU s':>10} {'max CPU s':>10} {'peak +MB':>9}  result")
    for name, raw in inputs:
        cpus, peak, outcome = run(raw, args.runs)
        print(f"{name:32} {len(raw) / 2**20:8.1f} {statistics.median(cpus):10.3f} {max(cpus):10.3f} {peak:9.0f}  "
              f"{outcome}")


if __name__ == "__main__":
    main()
