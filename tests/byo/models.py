"""User-style LightningModules (no litproj imports), each with a habit litproj must cope with."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch import nn


def _mlp(hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


class VectorClassifier(LightningModule):
    """The plain case: tuple batches, ``val_loss``/``val_acc`` names, an ``nn.Sequential`` backbone, no predict_step."""

    def __init__(self, hidden: int = 32, lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.model = _mlp(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self(x).argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class DictBatchClassifier(VectorClassifier):
    """Batches are dicts ``{"x", "y"}``; has a predict_step that returns class probabilities."""

    def training_step(self, batch, batch_idx):
        loss = F.cross_entropy(self(batch["x"]), batch["y"])
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.cross_entropy(self(batch["x"]), batch["y"]))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", F.cross_entropy(self(batch["x"]), batch["y"]))

    def predict_step(self, batch, batch_idx):
        return torch.softmax(self(batch["x"]), dim=-1)


class ManualOptimization(VectorClassifier):
    """``automatic_optimization = False`` with two optimizers (one per layer group), stepped by hand."""

    def __init__(self, hidden: int = 32, lr: float = 0.01):
        super().__init__(hidden, lr)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        first, second = self.optimizers()
        loss = F.cross_entropy(self(x), y)
        first.zero_grad()
        second.zero_grad()
        self.manual_backward(loss)
        first.step()
        second.step()
        self.log("train_loss", loss)

    def configure_optimizers(self):
        body, head = list(self.model[:-1].parameters()), list(self.model[-1].parameters())
        return torch.optim.Adam(body, lr=self.hparams.lr), torch.optim.SGD(head, lr=self.hparams.lr)


class NoValidation(LightningModule):
    """Only ``training_step`` and ``configure_optimizers``: no validation, test or predict step."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.model = _mlp(hidden)

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class EncoderHead(VectorClassifier):
    """Named parts (``encoder`` then ``head``) instead of one Sequential: split with --model_split.stages."""

    def __init__(self, hidden: int = 32, lr: float = 0.01):
        super().__init__(hidden, lr)
        del self.model
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.head(self.encoder(x))


class Residual(VectorClassifier):
    """A forward that is not a chain of children (a skip connection): model_split cannot cut it."""

    def __init__(self, hidden: int = 32, lr: float = 0.01):
        super().__init__(hidden, lr)
        del self.model
        self.inp = nn.Linear(64, hidden)
        self.block = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(h + torch.relu(self.block(h)))


class Exploding(VectorClassifier):
    """Raises from its own training_step at step 3 (a bug in the user's code, not a litproj error)."""

    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            raise RuntimeError("bug in my training_step")
        return super().training_step(batch, batch_idx)


class DictOutputs(DictBatchClassifier):
    """``predict_step`` returns a dict per batch (saved with ``torch.save``, not as CSV rows)."""

    def predict_step(self, batch, batch_idx):
        return {"logits": self(batch["x"]), "labels": batch["y"]}


class NanFromStep7(VectorClassifier):
    """Its training loss turns NaN from optimizer step 7 on (as a far too high learning rate would)."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.global_step >= 7 else loss
