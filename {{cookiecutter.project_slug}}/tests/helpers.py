"""Shared test helpers: quiet in-process runs and on-disk datasets generated from digits."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from {{ cookiecutter.package_name }}.cli.runner import run

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def train(tmp_path: Path, *args: str) -> dict:
    """``python train.py ARGS`` in-process, writing runs under ``tmp_path``."""
    stage = [args[0]] if args and args[0] in ("fit", "test", "validate", "predict") else []
    rest = list(args[len(stage) :])
    return run([*stage, "--runs_dir", str(tmp_path / "runs"), *QUIET, *rest])


def train_subprocess(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` in a subprocess (exit codes, stdout and stderr as a user sees them)."""
    stage = [args[0]] if args and args[0] in ("fit", "test", "validate", "predict") else []
    rest = list(args[len(stage) :])
    command = [sys.executable, str(ROOT / "train.py"), *stage, "--runs_dir", str(tmp_path / "runs"), *QUIET, *rest]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def digit_images(count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Digits as uint8 images (0-255) and their labels."""
    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    return images[:count], digits.target[:count]


def write_image_folder(root: Path, classes: int = 10, per_class: int | None = None, size: int = 16) -> Path:
    """Digits written as PNGs into ``root/<class name>/...``, with spaces, nesting and upper-case extensions."""
    images, labels = digit_images()
    counts: dict[int, int] = {}
    for image, label in zip(images, labels, strict=True):
        label = int(label)
        if label >= classes or (per_class and counts.get(label, 0) >= per_class):
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / f"digit {label}" / ("nested" if counts[label] % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".PNG" if counts[label] % 3 == 0 else ".png"
        Image.fromarray(image).resize((size, size)).save(folder / f"img {counts[label]}{suffix}", format="PNG")
    return root


def write_mnist(root: Path, train: int = 200, test: int = 60) -> Path:
    """A tiny MNIST in torchvision's on-disk format (idx files under ``root/MNIST/raw``)."""
    images, labels = digit_images(train + test)
    images = np.stack([np.array(Image.fromarray(i).resize((28, 28))) for i in images])
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, part in (("train", slice(0, train)), ("t10k", slice(train, train + test))):
        x, y = images[part], labels[part].astype(np.uint8)
        header = np.array([0x00000803, len(x), 28, 28], dtype=">i4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + x.tobytes())
        header = np.array([0x00000801, len(y)], dtype=">i4").tobytes()
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(header + y.tobytes())
    return root


def write_cifar10(root: Path, per_batch: int = 20) -> Path:
    """A tiny CIFAR-10 in its pickled on-disk format (``root/cifar-10-batches-py``)."""
    images, labels = digit_images(per_batch * 6)
    rgb = np.stack([np.array(Image.fromarray(i).resize((32, 32)).convert("RGB")) for i in images])
    flat = rgb.transpose(0, 3, 1, 2).reshape(len(rgb), -1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        part = slice(i * per_batch, (i + 1) * per_batch)
        batch = {"data": flat[part], "labels": [int(v) for v in labels[part]]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root
