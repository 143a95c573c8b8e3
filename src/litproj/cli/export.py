"""``python train.py export --ckpt_path best --format onnx|torchscript``: a checkpoint's model as a file that runs
without the project's code, next to ``inference.json`` (what a caller must feed it), checked against the
checkpoint before the path is given out: an export that silently computes something else is worse than none.

Any LightningModule exports its ``forward``, traced on ``example_input_array`` or on one batch of the data; the
check runs that input and the data's batch through both and compares (ONNX via onnxruntime, within 1e-4; TorchScript
reloaded from disk, within 1e-6, which on the CPU is in practice exact).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from pytorch_lightning.utilities.model_helpers import is_overridden

from litproj.errors import UserError, closest
from litproj.reliability.checkpoint_guard import load_checkpoint

#: File suffix and allowed max abs difference from the checkpoint's outputs, per format.
FORMATS = {"onnx": (".onnx", 1e-4), "torchscript": (".pt", 1e-6)}
DEFAULT_FORMAT = "onnx"  # the one that runs outside Python and PyTorch alike
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")  # torch's exporter (dynamo) needs onnxscript
#: Loaders an input batch may come from, most inference-like first, with the stage their setup needs.
LOADERS = (("predict_dataloader", "predict"), ("test_dataloader", "test"), ("val_dataloader", "validate"))


def take_format(args: list[str]) -> tuple[str, list[str]]:
    """``--format`` read and removed before the parser sees it: it says how to write the run, it is not part of
    the run, so it must neither reach a saved config nor count as a change to one (:mod:`litproj.cli.resume`)."""
    chosen, rest, i = DEFAULT_FORMAT, [], 0
    while i < len(args):
        if args[i] == "--format" and i + 1 < len(args):
            chosen, i = args[i + 1], i + 1
        elif args[i].startswith("--format="):
            chosen = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    if chosen not in FORMATS:
        hint = closest(chosen, FORMATS)
        raise UserError(
            f"--format: '{chosen}' is not one of {', '.join(FORMATS)}.{f' Did you mean {hint!r}?' * bool(hint)}"
        )
    return chosen, rest


def _tensors(value: object) -> list[torch.Tensor]:
    """The tensors in a (nested) output, in order: what an exported graph returns as its flat list of outputs."""
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _as_args(sample: object, source: str) -> tuple[torch.Tensor, ...]:
    args = tuple(sample) if isinstance(sample, (list, tuple)) else (sample,)
    if not args or not all(torch.is_tensor(a) for a in args):
        raise UserError(
            f"export: {source} is a {type(sample).__name__}, not a tensor or a tuple of tensors for forward(); "
            "set example_input_array in your LightningModule to what forward takes."
        )
    return tuple(a.detach().cpu() for a in args)


def _data_batch(data) -> tuple[torch.Tensor, ...] | None:
    """The inputs of one batch of the first loader the data gives, ``x`` of ``(x, y)`` batches; ``None`` if none."""
    if data is None:
        return None
    data.prepare_data()
    for hook, stage in LOADERS:
        if not is_overridden(hook, data):
            continue
        data.setup(stage)
        try:
            batch = next(iter(getattr(data, hook)()))
        except (UserError, StopIteration):  # e.g. a predict loader that needs a folder nobody gave
            continue
        if isinstance(batch, dict):
            raise UserError(
                f"export: {type(data).__name__}'s batches are dicts ({', '.join(map(str, batch))}), so which part "
                "forward() takes is unknown; set example_input_array in your LightningModule."
            )
        inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
        return _as_args(inputs, f"the first item of a {hook}() batch")
    return None


def inputs_for(model, data) -> list[tuple[torch.Tensor, ...]]:
    """The export input first (``example_input_array``, else a data batch), then the data's batch to check on."""
    batch = _data_batch(data)
    example = model.example_input_array
    if example is None and batch is None:
        raise UserError(
            f"export: {type(model).__name__} has no example_input_array and the data has no predict, test or val "
            "loader to take a batch from; set self.example_input_array in your LightningModule's __init__."
        )
    first = _as_args(example, "example_input_array") if example is not None else batch
    assert first is not None
    return [first] + ([batch] if batch is not None and example is not None else [])


def load_weights(model, checkpoint: str | None, trust: bool) -> None:
    """The checkpoint's weights into ``model`` on the CPU, as Lightning's own loading does (hook, then strict)."""
    if checkpoint is None:
        raise UserError("export: name the checkpoint to export with --ckpt_path best|last|FILE.")
    if Path(checkpoint).is_dir():
        raise UserError(
            f"export: '{checkpoint}' is a sharded checkpoint folder; export needs one file (a checkpoint saved "
            "without --strategy fsdp, or one consolidated from this folder)."
        )
    saved = load_checkpoint(Path(checkpoint), trust)
    model.on_load_checkpoint(saved)
    model.load_state_dict(saved["state_dict"], strict=model.strict_loading)
    model.cpu().eval()


def _write_onnx(model, example: tuple[torch.Tensor, ...], path: Path) -> Callable:
    import onnxruntime

    batch = torch.export.Dim.DYNAMIC
    shapes = tuple({0: batch} if a.dim() else {} for a in example)  # any batch size, as a deployed model gets
    large = sum(p.numel() * p.element_size() for p in model.parameters()) > 1 << 30  # protobuf's 2 GB limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.to_onnx(path, example, dynamo=True, dynamic_shapes=shapes, external_data=large, verbose=False)
    except Exception as err:  # torch.export raises many types for code it cannot trace
        line = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(
            f"export: torch.onnx could not export {type(model).__name__}.forward ({line}); "
            "try --format torchscript, or simplify forward (no Python-side data-dependent branches)."
        ) from err
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(args: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        outputs = session.run(None, {name: a.numpy() for name, a in zip(names, args, strict=True)})
        return [torch.from_numpy(o) for o in outputs]

    return run


def _write_torchscript(model, example: tuple[torch.Tensor, ...], path: Path) -> Callable:
    with warnings.catch_warnings():  # TorchScript's deprecation is the user's informed choice (docs/models.md)
        warnings.simplefilter("ignore")
        model.to_torchscript(path, method="trace", example_inputs=example)
        loaded = torch.jit.load(str(path), map_location="cpu")  # what a user loads, not the object in memory
    return lambda args: _tensors(loaded(*args))


def _discard(path: Path) -> None:
    """Remove an export that failed its check, with the weights file ONNX writes beside large models."""
    for file in (path, path.with_name(f"{path.name}.data")):
        file.unlink(missing_ok=True)


def max_difference(model, exported: Callable, batches: list[tuple[torch.Tensor, ...]]) -> float:
    """The largest absolute difference between the checkpoint's and the exported model's outputs."""
    worst = 0.0
    with torch.no_grad():
        for args in batches:
            expected, got = _tensors(model(*args)), exported(args)
            if len(expected) != len(got):
                return float("inf")
            for want, have in zip(expected, got, strict=True):
                if want.shape != have.shape:
                    return float("inf")
                worst = max(worst, (want.double() - have.double()).abs().max().item() if want.numel() else 0.0)
    return worst


def inference_spec(model, data, example: tuple[torch.Tensor, ...], outputs: list[torch.Tensor]) -> dict:
    """What a caller needs to feed the exported file: shapes (batch first, any size), classes, normalisation."""
    spec_of = getattr(data, "spec", None)  # torchvision sets keep their statistics in a spec record
    stats = {key: getattr(data, key, None) or getattr(spec_of, key, None) for key in ("mean", "std")}
    image = example[0] if example[0].dim() == 4 else None
    return {
        "module": f"{type(model).__module__}.{type(model).__qualname__}",
        "inputs": [{"shape": ["batch", *a.shape[1:]], "dtype": str(a.dtype).removeprefix("torch.")} for a in example],
        "outputs": [{"shape": ["batch", *o.shape[1:]], "dtype": str(o.dtype).removeprefix("torch.")} for o in outputs],
        "class_names": list(getattr(data, "class_names", None) or []) or None,
        "in_channels": getattr(data, "in_channels", None) or (image.shape[1] if image is not None else None),
        "image_size": getattr(data, "image_size", None) or (list(image.shape[2:]) if image is not None else None),
        **{key: [float(v) for v in value] if value is not None else None for key, value in stats.items()},
    }


def export_checkpoint(cli, fmt: str | None) -> dict:
    """Export ``cli.model`` with ``cli.ckpt_path``'s weights into the run folder (rank 0); results.json's part."""
    fmt = fmt or DEFAULT_FORMAT
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None] if fmt == "onnx" else []
    if missing:  # before anything is loaded: a missing package is the first thing to say
        raise UserError(
            f"--format onnx needs {', '.join(missing)}: pip install -e '.[onnx]' (or pip install onnx onnxscript "
            "onnxruntime); or use --format torchscript."
        )
    model, data = cli.model, cli.datamodule
    load_weights(model, cli.ckpt_path, trust=not cli.weights_only)
    if not cli.trainer.is_global_zero:
        return {}
    batches = inputs_for(model, data)
    suffix, tolerance = FORMATS[fmt]
    path = Path(cli.run_dir) / f"model{suffix}"
    writer = _write_onnx if fmt == "onnx" else _write_torchscript
    exported = writer(model, batches[0], path)
    try:
        difference = max_difference(model, exported, batches)
    except Exception as err:  # the runtime rejects an input the module accepts (another size, say)
        _discard(path)
        shapes = " and ".join(str(list(b[0].shape)) for b in batches)
        raise UserError(
            f"export: the {fmt} model fails on the check inputs ({shapes}): {str(err).strip()[:160]}; make "
            "example_input_array match the data's batches."
        ) from err
    print(f"export check: max abs difference {difference:.3g} on {len(batches)} batch(es) (allowed {tolerance:g})")
    if not difference <= tolerance:
        _discard(path)
        raise UserError(
            f"export: the {fmt} model's outputs differ from the checkpoint's by {difference:.3g} (allowed "
            f"{tolerance:g}); forward likely branches on its input's values or size; try the other --format."
        )
    with torch.no_grad():
        outputs = _tensors(model(*batches[0]))
    spec = {"format": fmt, "file": path.name, "checkpoint": str(cli.ckpt_path), "max_abs_diff": difference}
    spec |= inference_spec(model, data, batches[0], outputs)
    info = path.with_name("inference.json")
    info.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    summary = f"{path.name} ({fmt}), max abs diff {difference:.3g}"
    return {"exported": str(path), "export": {"inference": str(info), "max_abs_diff": difference, "summary": summary}}
