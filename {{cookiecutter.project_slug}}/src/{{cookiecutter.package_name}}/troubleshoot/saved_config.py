"""Keep a run's ``config.yaml`` true to what trained: the batch and lr that tuning or OOM recovery settled on."""

from __future__ import annotations

from pathlib import Path

import yaml
from lightning_utilities.core.rank_zero import rank_zero_only


@rank_zero_only
def update_saved_config(run_dir: Path | str, changes: dict[str, object]) -> None:
    """Set dotted keys in ``run_dir/config.yaml``, so ``--config`` on it repeats the run that finished
    (not the one that ran out of memory) and ``test``/``predict`` from its checkpoints use a batch that fits."""
    path = Path(run_dir) / "config.yaml"
    if not changes or not path.is_file():
        return
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
