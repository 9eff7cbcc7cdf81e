"""Trained weights as Optuna artifacts: one file per trial in a folder (torch loads on first use)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta, upload_artifact

from paretomoo.errors import UserError
from paretomoo.store._records import state_name

if TYPE_CHECKING:
    import torch


# the file name of a halving checkpoint (weights and optimizer state part-way); a trial's weights are trial_<n>.pt
CHECKPOINT = "checkpoint_"


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
        self._upload(state, f"trial_{trial.number}.pt", trial)
        trial.set_user_attr("weights", trial.number)

    def save_checkpoint(self, trial: optuna.Trial, checkpoint: dict[str, Any]) -> None:
        """Store where a running trial stopped short of its last epoch (``Trainer.fit``'s checkpoint), for the trial
        that goes on from it (successive halving)."""
        self._upload(checkpoint, f"{CHECKPOINT}{trial.number}.pt", trial)

    def save_conditioned(self, blob: dict[str, Any]) -> None:
        """Store the study's λ-conditioned models (``paretomoo.conditioned``): one artifact that every conditioned
        trial shares, named by the study attribute ``conditioned_weights``."""
        self.study.set_user_attr("conditioned_weights", self._upload(blob, "conditioned.pt", self.study))

    def _upload(self, blob: Any, filename: str, owner: optuna.Trial | optuna.Study) -> str:
        """``torch.save`` a blob as an artifact of a trial or the study; its artifact id."""
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, filename)
            torch.save(blob, path)
            return upload_artifact(artifact_store=self._store(), file_path=path, study_or_trial=owner, mimetype="application/x-pytorch")

    def load_conditioned(self) -> dict[str, Any]:
        """The study's λ-conditioned models; ``CheckpointError`` if they were never stored or cannot be read."""
        artifact = self.study.user_attrs.get("conditioned_weights")
        if artifact is None:
            raise CheckpointError(f"study {self.study.study_name!r} has no conditioned models stored")
        return self._read(str(artifact), f"study {self.study.study_name!r}", "conditioned models")

    def load_checkpoint(self, number: int) -> dict[str, Any]:
        """The checkpoint trial ``number`` stopped at; ``CheckpointError`` if it is missing or unreadable."""
        trial = self.study.get_trials(deepcopy=False)[number]
        metas = [m for m in get_all_artifact_meta(trial, storage=self.storage) if m.filename.startswith(CHECKPOINT)]
        if not metas:
            raise CheckpointError(f"trial {number} has no stored checkpoint to go on from")
        return self._read(metas[-1].artifact_id, f"trial {number}", "checkpoint")

    def _artifact_id(self, number: int) -> str:
        trials = self.study.get_trials(deepcopy=False)
        trial = trials[number]
        # a retried trial's weights may lie with the attempt that trained its first seed
        holder = trials[int(trial.user_attrs.get("weights", number))]
        metas = [m for m in get_all_artifact_meta(holder, storage=self.storage) if not m.filename.startswith(CHECKPOINT)]
        if not metas:
            raise UserError(f"trial {number} has no stored weights (state: {state_name(trial)}); pick a complete trial")
        return metas[-1].artifact_id

    def load(self, number: int) -> dict[str, torch.Tensor]:
        """The stored weights of trial ``number``; ``CheckpointError`` if they are missing or unreadable."""
        return self._read(self._artifact_id(number), f"trial {number}", "weights")

    def _read(self, artifact_id: str, whose: str, what: str) -> Any:
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.pt")
            try:
                download_artifact(artifact_store=self._store(), file_path=path, artifact_id=artifact_id)
                return torch.load(path, map_location="cpu", weights_only=True)
            except UserError:
                raise
            except Exception as exc:  # missing file, truncated or corrupted bytes
                raise CheckpointError(f"the {what} of {whose} in {self.folder} cannot be read ({type(exc).__name__})") from None

    def replace(self, number: int, state: dict[str, torch.Tensor]) -> None:
        """Overwrite trial ``number``'s stored weights (after re-running a corrupted checkpoint)."""
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        self._store().write(self._artifact_id(number), buf)
