"""Model split: time per training step for several GPipe micro-batch counts, and the ideal bubble.

    python bench/pipeline_bubble.py                                   # CPU: 2 stages on cpu
    python bench/pipeline_bubble.py --devices cuda:0 cuda:1           # 2 GPUs: the bubble shrinks

Medians of interleaved repeats, as ratios to micro_batches=1 measured in the same run. On CPU the stages
run one after another (no overlap), so micro-batches only add overhead; on several GPUs CUDA's
asynchronous launches let the stages overlap and the idle share approaches (S-1)/(M+S-1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from {{ cookiecutter.package_name }}.nets import build_backbone
from {{ cookiecutter.package_name }}.strategies import Pipeline


def step_seconds(pipeline: Pipeline, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    start = time.perf_counter()
    loss = F.cross_entropy(pipeline(x), y)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cpu"])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--micro_batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = build_backbone(args.backbone, in_channels=3, num_classes=10)
    pipelines = {m: Pipeline.cut(net, args.devices, m) for m in args.micro_batches}
    pipelines[args.micro_batches[0]].place()
    first = torch.device(args.devices[0])
    x = torch.randn(args.batch, 3, args.size, args.size, device=first)
    y = torch.randint(0, 10, (args.batch,), device=first)
    times: dict[int, list[float]] = {m: [] for m in args.micro_batches}
    for m in args.micro_batches:  # warm-up
        step_seconds(pipelines[m], x, y, first)
    for _ in range(args.repeats):
        for m in args.micro_batches:  # interleaved, so load changes hit every setting alike
            times[m].append(step_seconds(pipelines[m], x, y, first))
    stages = len(args.devices)
    base = statistics.median(times[args.micro_batches[0]])
    print(f"{args.backbone}, batch {args.batch}, {stages} stages on {args.devices}, {args.repeats} repeats")
    print("micro_batches  median step  ratio  ideal bubble (S-1)/(M+S-1)")
    for m in args.micro_batches:
        median = statistics.median(times[m])
        print(f"{m:>13}  {median * 1000:>8.1f} ms  {median / base:>5.2f}  {(stages - 1) / (m + stages - 1):>6.0%}")


if __name__ == "__main__":
    main()
