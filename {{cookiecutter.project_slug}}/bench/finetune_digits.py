"""Fine-tuning on a few images, measured offline (numbers in docs/finetuning.md).

scikit-learn's digits become PNG files in image-folder layouts, and every run is a real ``train.py`` run
(``{{ cookiecutter.package_name }}.cli.runner.run``) with ``ImageFolderDataModule``:

1. pretrain: digits 0-4 (one run per seed; strong augmentation and label smoothing keep its features useful beyond
   0-4); its last checkpoint, less the classifier head, is the weights file;
2. few-shot: digits 5-9 with ``--shots`` training images per class: from scratch, pretrained
   (``--model.weights``), and pretrained with the backbone frozen for the first epochs, then trained at a
   tenth of the learning rate (``--model.freeze_backbone_epochs``, ``--model.backbone_lr_scale``);
3. imbalance: digits 5-9 with ``--rare_classes`` given ``--rare_factor`` times fewer training images, from
   scratch, with ``--data.balance none|sampler|loss``; test accuracy and the rare classes' accuracy and F1.

Every seed draws its own training (and validation) images from the same pool; the test images of 5-9 are one
fixed, balanced set that no seed trains on. Runs are interleaved per seed so that machine load affects every arm.

    python bench/finetune_digits.py --out docs/finetuning.json --plot docs/img/finetuning.png
    python bench/finetune_digits.py --quick --out /tmp/ft.json --plot /tmp/ft.png   # 1 seed, 1 epoch: smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, when run from anywhere
from benchlib import machine, print_table, save_json  # noqa: E402

PRETRAIN, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
FEWSHOT_ARMS = ("scratch", "pretrained", "frozen_then_unfrozen")
BALANCE_ARMS = ("none", "sampler", "loss")


def write_split(root: Path, images: np.ndarray, labels: np.ndarray, indices) -> None:
    """``root/<digit>/<index>.png`` for each index: 8x8 grayscale, 0-16 scaled to 0-255."""
    for i in indices:
        folder = root / str(int(labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((images[i] * (255 / 16)).round().astype(np.uint8), mode="L").save(folder / f"{i}.png")


def by_class(labels: np.ndarray, classes, rng: np.random.Generator) -> dict[int, np.ndarray]:
    return {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}


def write_pretrain(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Digits 0-4 as train/val/test folders (70/15/15 per class, fixed)."""
    for idx in by_class(labels, PRETRAIN, np.random.default_rng(0)).values():
        cut1, cut2 = int(0.7 * len(idx)), int(0.85 * len(idx))
        for split, part in (("train", idx[:cut1]), ("val", idx[cut1:cut2]), ("test", idx[cut2:])):
            write_split(root / split, images, labels, part)
    return root


def target_pool(labels: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Digits 5-9 split once per class: half for the fixed test set, half the pool that seeds draw from."""
    test, pool = {}, {}
    for c, idx in by_class(labels, TARGET, np.random.default_rng(1)).items():
        test[c], pool[c] = idx[: len(idx) // 2], idx[len(idx) // 2 :]
    return test, pool


def write_target(root: Path, data, test, pool, seed: int, train_counts: dict[int, int], val: int) -> Path:
    """A 5-9 folder: ``train_counts[c]`` training and ``val`` validation images per class drawn with ``seed``."""
    images, labels = data
    rng = np.random.default_rng(1000 + seed)
    for c in TARGET:
        drawn = rng.permutation(pool[c])
        write_split(root / "train", images, labels, drawn[: train_counts[c]])
        write_split(root / "val", images, labels, drawn[train_counts[c] : train_counts[c] + val])
        write_split(root / "test", images, labels, test[c])
    return root


def without_head(checkpoint: str, backbone: str, out: Path) -> Path:
    """The checkpoint's network weights minus the classifier: pretrain and fine-tune both have 5 classes, and a
    head that fits in shape would be loaded too (it predicts 0-4, not 5-9); without it the head starts fresh."""
    from {{ cookiecutter.package_name }}.nets import build_backbone
    from {{ cookiecutter.package_name }}.nets.layers import head_name

    head = "net." + head_name(build_backbone(backbone, 1, len(PRETRAIN))) + "."
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    kept = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.") and not k.startswith(head)}
    torch.save(kept, out)
    return out


class Runner:
    """Runs ``train.py`` in this process, its output to a log file, and prints one line of progress per run."""

    def __init__(self, args: argparse.Namespace, work: Path, total: int):
        import {{ cookiecutter.package_name }}.cli.runner  # noqa: F401  (Lightning's loggers exist once it is imported)

        for name in ("pytorch_lightning", "lightning_fabric"):  # their handlers hold the real stderr
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")  # the run logs keep the output; the console gets one line per run
        torch.set_num_threads(args.threads)  # batches of 10 8x8 images gain nothing from a second thread
        self.args, self.work, self.total, self.done = args, work, total, 0
        self.started = time.perf_counter()

    def __call__(self, name: str, data_dir: Path, seed: int, epochs: int, *extra: str) -> dict:
        from {{ cookiecutter.package_name }}.cli.runner import run

        argv = [
            *("--data", "{{ cookiecutter.package_name }}.data.ImageFolderDataModule", "--data.data_dir", str(data_dir)),
            *("--data.image_size", "8", "--data.in_channels", "1", "--data.augment", "none", "--data.hflip", "false"),
            *("--data.num_workers", "0", "--data.batch_size", str(self.args.batch_size)),
            *("--model.backbone", self.args.backbone, "--trainer.max_epochs", str(epochs)),
            *("--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"),
            *("--trainer.logger", "false", "--seed_everything", str(seed)),
            *("--runs_dir", str(self.work / "runs"), "--name", name),
            *extra,
        ]
        log = self.work / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        start = time.perf_counter()
        with (
            log.open("w", encoding="utf-8") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            results = run(argv)
        seconds = time.perf_counter() - start
        self.done += 1
        acc = results["metrics"]["test/acc"]
        print(
            f"[{self.done}/{self.total}] {name}: test acc {acc:.3f} ({seconds:.0f} s; "
            f"{time.perf_counter() - self.started:.0f} s in all)",
            flush=True,
        )
        return {**results, "seconds": seconds}


def row(experiment: str, arm: str, seed: int, results: dict) -> dict:
    metrics = results["metrics"]
    per_class = {
        key.split("_", 1)[1]: {"acc": metrics[key], "f1": metrics[key.replace("acc_", "f1_")]}
        for key in metrics
        if key.startswith("test/acc_")
    }
    return {
        "experiment": experiment,
        "arm": arm,
        "seed": seed,
        "test_acc": metrics["test/acc"],
        "test_f1": metrics["test/f1"],
        "per_class": per_class,
        "seconds": round(results["seconds"], 1),
    }


def summarise(rows: list[dict], rare: list[str]) -> dict:
    """Mean and sample std over seeds of test accuracy (and the rare classes' accuracy and F1) per arm."""

    def stats(values: list[float]) -> dict:
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    summary: dict = {}
    for experiment, arms in (("pretrain", ("scratch",)), ("fewshot", FEWSHOT_ARMS), ("imbalance", BALANCE_ARMS)):
        summary[experiment] = {}
        for arm in arms:
            picked = [r for r in rows if r["experiment"] == experiment and r["arm"] == arm]
            entry = {"test_acc": stats([r["test_acc"] for r in picked]), "seeds": len(picked)}
            if experiment == "imbalance":
                for metric in ("acc", "f1"):
                    values = [statistics.fmean(r["per_class"][c][metric] for c in rare) for r in picked]
                    entry[f"rare_{metric}"] = stats(values)
            if experiment == "fewshot":  # the same seed draws the same images: compare each seed with itself
                base = {
                    r["seed"]: r["test_acc"] for r in rows if r["experiment"] == experiment and r["arm"] == "scratch"
                }
                gains = [r["test_acc"] - base[r["seed"]] for r in picked]
                entry["vs_scratch"] = {**stats(gains), "wins": sum(g > 0 for g in gains)}
            summary[experiment][arm] = entry
    return summary


def plot(path: Path, rows: list[dict], summary: dict, args: argparse.Namespace) -> None:
    """Two panels: few-shot test accuracy per arm, and rare-class F1 / test accuracy per balance option; bars are
    means over seeds, error bars one std, dots the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (
        (
            left,
            "fewshot",
            FEWSHOT_ARMS,
            [("test_acc", "test accuracy")],
            f"digits 5-9, {args.shots} training image(s) per class",
        ),
        (
            right,
            "imbalance",
            BALANCE_ARMS,
            [("test_acc", "test accuracy"), ("rare_f1", f"F1 of rare {','.join(args.rare_classes)}")],
            f"{','.join(args.rare_classes)} with {args.rare_factor}x fewer images (from scratch)",
        ),
    )
    for ax, experiment, arms, metrics, title in panels:
        width = 0.8 / len(metrics)
        for m, (metric, label) in enumerate(metrics):
            xs = [i + (m - (len(metrics) - 1) / 2) * width for i in range(len(arms))]
            means = [summary[experiment][a][metric]["mean"] for a in arms]
            stds = [summary[experiment][a][metric]["std"] for a in arms]
            ax.bar(xs, means, width * 0.9, yerr=stds, capsize=4, label=label, alpha=0.8)
            for x, arm in zip(xs, arms, strict=True):
                seeds = [r for r in rows if r["experiment"] == experiment and r["arm"] == arm]
                values = [r["test_acc"] if metric == "test_acc" else rare_mean(r, args.rare_classes) for r in seeds]
                ax.scatter([x] * len(values), values, color="black", s=10, zorder=3)
        if experiment == "fewshot":  # each seed's own images in every arm: a line per seed shows the pairing
            for seed in args.seeds:
                values = [
                    next(
                        r["test_acc"]
                        for r in rows
                        if r["experiment"] == experiment and r["arm"] == a and r["seed"] == seed
                    )
                    for a in arms
                ]
                ax.plot(range(len(arms)), values, color="grey", linewidth=0.6, alpha=0.6, zorder=2)
        ax.set_xticks(range(len(arms)), [a.replace("_", " ") for a in arms])
        ax.set(ylim=(0, 1), title=title)
        ax.legend(loc="lower right")
    fig.suptitle(f"{args.backbone} on 8x8 digits; mean of {len(args.seeds)} seeds, error bar = std")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot: {path}")


def rare_mean(r: dict, rare: list[str]) -> float:
    return statistics.fmean(r["per_class"][c]["f1"] for c in rare)


def markdown(summary: dict, rare: list[str]) -> str:
    """The tables docs/finetuning.md shows (tests/test_finetune_bench.py checks the doc against the JSON)."""

    def cell(s: dict) -> str:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"

    lines = ["| few-shot arm | test accuracy (%) | minus scratch, same seed (points) | seeds better than scratch |"]
    lines += ["| --- | --- | --- | --- |"]
    for arm in FEWSHOT_ARMS:
        s, gain = summary["fewshot"][arm], summary["fewshot"][arm]["vs_scratch"]
        wins = "" if arm == "scratch" else f"{gain['wins']} of {s['seeds']}"
        lines.append(f"| {arm} | {cell(s['test_acc'])} | {'' if arm == 'scratch' else cell(gain)} | {wins} |")
    lines += ["", f"| `--data.balance` | test accuracy (%) | rare {', '.join(rare)}: accuracy (%) | F1 (%) |"]
    lines += ["| --- | --- | --- | --- |"]
    for arm in BALANCE_ARMS:
        s = summary["imbalance"][arm]
        lines.append(f"| {arm} | {cell(s['test_acc'])} | {cell(s['rare_acc'])} | {cell(s['rare_f1'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="one run per arm and seed")
    parser.add_argument("--backbone", default="small_cnn", help="--model.backbone for every run")
    parser.add_argument("--shots", type=int, default=1, help="few-shot training images per class of 5-9")
    parser.add_argument("--val", type=int, default=10, help="validation images per class of 5-9")
    parser.add_argument("--batch_size", type=int, default=10, help="few-shot and imbalance runs")
    parser.add_argument("--lr", type=float, default=3e-3, help="--model.lr of every run but frozen-then-unfrozen")
    parser.add_argument("--pretrain_epochs", type=int, default=30)
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument(
        "--pretrain_label_smoothing", type=float, default=0.3, help="keeps the 0-4 features useful beyond 0-4"
    )
    parser.add_argument("--finetune_epochs", type=int, default=40, help="few-shot epochs, every arm")
    parser.add_argument("--pretrain_augment", default="strong", help="--data.augment of pretraining")
    parser.add_argument("--freeze_epochs", type=int, default=10, help="frozen-then-unfrozen: head-only epochs")
    parser.add_argument("--frozen_lr", type=float, default=1e-2, help="frozen-then-unfrozen: --model.lr (head)")
    parser.add_argument("--backbone_lr_scale", type=float, default=0.1, help="frozen-then-unfrozen: backbone LR")
    parser.add_argument("--common", type=int, default=50, help="imbalance: training images per common class")
    parser.add_argument("--rare_factor", type=int, default=10, help="imbalance: rare classes get common / this")
    parser.add_argument("--rare_classes", nargs="+", default=["8", "9"])
    parser.add_argument("--imbalance_epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny batches: 1 is fastest)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch each, 2 shots: a smoke test")
    parser.add_argument("--workdir", help="keep image folders, runs and logs here (default: a temporary folder)")
    parser.add_argument("--out", help="write every run's row, the summary and the machine to this JSON file")
    parser.add_argument("--plot", help="save the figure to this PNG file")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.shots, args.val, args.common = args.seeds[:1], 2, 2, 10
        args.pretrain_epochs = args.finetune_epochs = args.imbalance_epochs = args.freeze_epochs = 1
    with contextlib.ExitStack() as stack:
        work = Path(args.workdir) if args.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        measure(args, work)


def measure(args: argparse.Namespace, work: Path) -> None:
    digits = load_digits()
    data = (digits.images, digits.target)
    test, pool = target_pool(digits.target)
    pretrain_dir = write_pretrain(work / "data" / "pretrain", *data)
    runner = Runner(args, work, total=len(args.seeds) * (1 + len(FEWSHOT_ARMS) + len(BALANCE_ARMS)))
    rare = {int(c): max(1, args.common // args.rare_factor) for c in args.rare_classes}
    common = ["--model.lr", str(args.lr)]
    rows, started = [], time.perf_counter()
    for seed in args.seeds:
        results = runner(
            f"pretrain_s{seed}",
            pretrain_dir,
            seed,
            args.pretrain_epochs,
            *common,
            *("--data.batch_size", str(args.pretrain_batch_size)),
            *("--model.label_smoothing", str(args.pretrain_label_smoothing)),
            *("--data.augment", args.pretrain_augment),
        )
        rows.append(row("pretrain", "scratch", seed, results))
        weights = without_head(results["last_checkpoint"], args.backbone, work / f"pretrained_s{seed}.pt")
        fewshot_dir = write_target(
            work / "data" / f"fewshot_s{seed}", data, test, pool, seed, dict.fromkeys(TARGET, args.shots), args.val
        )
        arms = {
            "scratch": [],
            "pretrained": ["--model.weights", str(weights)],
            "frozen_then_unfrozen": [
                *("--model.lr", str(args.frozen_lr), "--model.weights", str(weights)),
                *("--model.freeze_backbone_epochs", str(args.freeze_epochs)),
                *("--model.backbone_lr_scale", str(args.backbone_lr_scale)),
            ],
        }
        for arm, extra in arms.items():
            results = runner(f"fewshot_{arm}_s{seed}", fewshot_dir, seed, args.finetune_epochs, *common, *extra)
            rows.append(row("fewshot", arm, seed, results))
        counts = {c: rare.get(c, args.common) for c in TARGET}
        imbalance_dir = write_target(work / "data" / f"imbalance_s{seed}", data, test, pool, seed, counts, args.val)
        for arm in BALANCE_ARMS:
            results = runner(
                f"imbalance_{arm}_s{seed}", imbalance_dir, seed, args.imbalance_epochs, *common, "--data.balance", arm
            )
            rows.append(row("imbalance", arm, seed, results))
    summary = summarise(rows, args.rare_classes)
    report(args, rows, summary, time.perf_counter() - started)


def report(args: argparse.Namespace, rows: list[dict], summary: dict, seconds: float) -> None:
    def cell(s: dict) -> str:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"

    print_table(
        f"few-shot digits 5-9, {args.shots} images per class ({len(args.seeds)} seeds, %)",
        ["arm", "test accuracy"],
        [[arm, cell(summary["fewshot"][arm]["test_acc"])] for arm in FEWSHOT_ARMS],
        caption=f"pretraining on 0-4: test accuracy {cell(summary['pretrain']['scratch']['test_acc'])}",
    )
    print_table(
        f"imbalance: {', '.join(args.rare_classes)} with {args.rare_factor}x fewer images (%)",
        ["--data.balance", "test accuracy", "rare accuracy", "rare F1"],
        [
            [arm, *(cell(summary["imbalance"][arm][k]) for k in ("test_acc", "rare_acc", "rare_f1"))]
            for arm in BALANCE_ARMS
        ],
    )
    print(f"\n{markdown(summary, args.rare_classes)}\n\nall runs: {seconds:.0f} s")
    payload = {
        "settings": vars(args),
        "seconds": round(seconds),
        "machine": machine(),
        "summary": summary,
        "rows": rows,
    }
    save_json(args.out, payload)
    if args.plot:
        plot(Path(args.plot), rows, summary, args)


if __name__ == "__main__":
    main()
