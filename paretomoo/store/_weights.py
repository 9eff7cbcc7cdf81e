"""Trained weights as Optuna artifacts: one file per trial in a folder (torch loads on first use)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta, upload_artifact

from paretomoo.errors import UserError
from paretomoo.store._records import state_name

if TYPE_CHECKING:
    import torch


class CheckpointError(Exception):
    """A trial's stored weights cannot be read; the trial can be re-run to recover them."""


class Weights:
    """The weights of a study's trials, in the artifact folder ``folder``."""

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, folder: str) -> None:
        self.study = study
        self.storage = storage
        self.folder = folder

    def _store(self) -> FileSystemArtifactStore:
        try:
            Path(self.folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the weights folder {self.folder} ({exc.strerror}); set study.artifacts to a writable folder"
            ) from None
        return FileSystemArtifactStore(self.folder)

    def save(self, trial: optuna.Trial, state: dict[str, torch.Tensor]) -> None:
        """Store a running trial's weights (those of its first seed, the study's)."""
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"trial_{trial.number}.pt")
            torch.save(state, path)
            upload_artifact(artifact_store=self._store(), file_path=path, study_or_trial=trial, mimetype="application/x-pytorch")
        trial.set_user_attr("weights", trial.number)

    def _artifact_id(self, number: int) -> str:
        trials = self.study.get_trials(deepcopy=False)
        trial = trials[number]
        # a retried trial's weights may lie with the attempt that trained its first seed
        holder = trials[int(trial.user_attrs.get("weights", number))]
        metas = get_all_artifact_meta(holder, storage=self.storage)
        if not metas:
            raise UserError(f"trial {number} has no stored weights (state: {state_name(trial)}); pick a complete trial")
        return metas[-1].artifact_id

    def load(self, number: int) -> dict[str, torch.Tensor]:
        """The stored weights of trial ``number``; ``CheckpointError`` if they are missing or unreadable."""
        import torch

        artifact_id = self._artifact_id(number)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.pt")
            try:
                download_artifact(artifact_store=self._store(), file_path=path, artifact_id=artifact_id)
                return torch.load(path, map_location="cpu", weights_only=True)
            except UserError:
                raise
            except Exception as exc:  # missing file, truncated or corrupted bytes
                raise CheckpointError(f"the weights of trial {number} in {self.folder} are unreadable ({type(exc).__name__})") from None

    def replace(self, number: int, state: dict[str, torch.Tensor]) -> None:
        """Overwrite trial ``number``'s stored weights (after re-running a corrupted checkpoint)."""
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        self._store().write(self._artifact_id(number), buf)
