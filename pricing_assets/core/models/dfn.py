"""The demand feed-forward network (PyTorch), tuned with Optuna.

Tuned choices: depth, width, dropout, batch norm, optimiser, learning rate and batch size.
Training uses shuffled mini-batches from a seeded generator, stops early on the validation
loss and restores the weights of the best epoch; each epoch's validation loss is reported to
the study so the median pruner can stop hopeless trials. The test split is never seen here.

Stored as a ``state_dict`` (``state_dict.pt``, loaded with ``weights_only=True``) and a JSON of
hyperparameters (``hyperparameters.json``) that rebuilds the architecture.
"""

from __future__ import annotations

import copy
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from ..splits import DesignMatrices
from ..tuning import ProgressFn, TuningBudget, tune
from .base import Candidate, validation_mse

PATIENCE = 8
OPTIMISERS = ("adam", "adamw", "sgd")


def build_network(input_dim: int, depth: int, width: int, dropout: float, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    size = input_dim
    for _ in range(depth):
        layers.append(nn.Linear(size, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        size = width
    layers.append(nn.Linear(size, 1))
    return nn.Sequential(*layers)


@dataclass
class DFNModel:
    network: nn.Sequential
    hyperparameters: dict[str, Any]
    kind: str = "dfn"
    explainer: str = "deep"

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        self.network.eval()
        with torch.no_grad():
            return self.network(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy().ravel().astype(float)

    def files(self) -> dict[str, bytes]:
        buffer = io.BytesIO()
        torch.save(self.network.state_dict(), buffer)
        return {
            "state_dict.pt": buffer.getvalue(),
            "hyperparameters.json": json.dumps(self.hyperparameters, sort_keys=True).encode(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> DFNModel:
        hp = json.loads(files["hyperparameters.json"])
        network = build_network(hp["input_dim"], hp["depth"], hp["width"], hp["dropout"], hp["batch_norm"])
        network.load_state_dict(torch.load(io.BytesIO(files["state_dict.pt"]), weights_only=True))
        network.eval()
        return cls(network, hp)


def _optimiser(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-3)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True)


def fit_network(
    data: DesignMatrices,
    hp: dict[str, Any],
    seed: int,
    max_epochs: int,
    trial: optuna.Trial | None = None,
) -> tuple[DFNModel, float, int]:
    """Train one configuration; return the best-epoch model, its validation MSE and that epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_train = torch.as_tensor(data.x["train"])
    y_train = torch.as_tensor(data.y["train"]).unsqueeze(1)
    x_val = torch.as_tensor(data.x["validation"])
    y_val = torch.as_tensor(data.y["validation"]).unsqueeze(1)
    # Start the output at the mean target so early epochs are spent on shape, not on the level.
    network = build_network(x_train.shape[1], hp["depth"], hp["width"], hp["dropout"], hp["batch_norm"])
    with torch.no_grad():
        network[-1].bias.fill_(float(y_train.mean()))
    optimiser = _optimiser(hp["optimiser"], network.parameters(), hp["learning_rate"])
    loss_fn = nn.MSELoss()
    best_loss, best_state, best_epoch, stale, epochs_run = float("inf"), None, 0, 0, 0
    batch = hp["batch_size"]
    for epoch in range(max_epochs):
        epochs_run = epoch + 1
        network.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            if len(index) < 2 and hp["batch_norm"]:
                continue  # batch norm needs two rows
            optimiser.zero_grad()
            loss = loss_fn(network(x_train[index]), y_train[index])
            loss.backward()
            optimiser.step()
        network.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(network(x_val), y_val))
        if not np.isfinite(val_loss):
            break
        if val_loss < best_loss - 1e-6:
            best_loss, best_state, best_epoch, stale = val_loss, copy.deepcopy(network.state_dict()), epoch, 0
        else:
            stale += 1
        if trial is not None:
            trial.report(val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if stale >= PATIENCE:
            break
    if best_state is None:
        raise optuna.TrialPruned() if trial is not None else RuntimeError("the network never produced a finite loss")
    network.load_state_dict(best_state)
    network.eval()
    hyperparameters = {
        **hp,
        "input_dim": int(x_train.shape[1]),
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "seed": seed,
    }
    model = DFNModel(network, hyperparameters)
    return model, validation_mse(model, data), best_epoch


def train_dfn(
    data: DesignMatrices,
    budget: TuningBudget,
    seed: int,
    progress: ProgressFn | None = None,
    max_epochs: int = 60,
) -> Candidate:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is faster, and results do not depend on cores

    def objective(trial: optuna.Trial):
        hp = {
            "depth": trial.suggest_int("depth", 1, 3),
            "width": trial.suggest_categorical("width", [16, 32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "batch_norm": trial.suggest_categorical("batch_norm", [False, True]),
            "optimiser": trial.suggest_categorical("optimiser", list(OPTIMISERS)),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [8, 16, 32, 64]),  # tens of weekly rows
        }
        model, score, epoch = fit_network(data, hp, seed + trial.number, max_epochs, trial)
        trial.set_user_attr("best_epoch", epoch)
        return score, model

    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5)
    try:
        result = tune("dfn", objective, budget, seed, progress, pruner=pruner)
    finally:
        torch.set_num_threads(threads)
    summary = result.summary()
    summary["best_epoch"] = result.best_model.hyperparameters["best_epoch"]
    summary["max_epochs"] = max_epochs
    return Candidate(result.best_model, summary)
