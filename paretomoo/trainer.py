"""Inner trainer: fit one shared model per λ, many λ at once, and measure every task.

The loss of member k is ``Σ_i λ_ki f_i(θ_k)`` (or its smooth Tchebycheff form,
``[search] scalarization``). With Adam(W) the overall scale of
λ cancels in every parameter's update, and a task tower's gradient comes from
its own loss only, so λ acts through the shared parameters: the simplex is the
right space to search.

Data live as tensors on the device and are batched by an index permutation
drawn from a CPU generator seeded with ``training.seed``; every member sees the
same batches in the same order, and every member starts from weights seeded by
``training.seed``. So a trial is a pure function of (spec, λ) on a given
device, and differences between trials come from λ, not from the draw
(common random numbers).

This module holds the fit loop (:class:`Trainer`); beside it live the device and
the data on it (``_device_data``), the optimizer and scalarisations
(``_losses``), checkpoints (``_train_state``) and the measuring of a trained
population (``_evaluate``).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from paretomoo import _batches
from paretomoo._device_data import SharedData, batch_entries, is_out_of_memory, label_standardisation, resolve_device
from paretomoo._evaluate import EVAL_MEMBER_ROWS, EVAL_ROWS, Evaluation, MemberResult
from paretomoo._imports import is_target
from paretomoo._losses import SCALARIZATIONS, TCHEBYCHEFF_MU, adamw
from paretomoo._losses import _tchebycheff as _tchebycheff
from paretomoo._losses import _weighted_sum as _weighted_sum
from paretomoo._train_state import Checkpoint, _checkpoint, _resume, _start_epoch
from paretomoo.data import Dataset
from paretomoo.data._tensors import to_tensors
from paretomoo.models import ModelShape, PopulationModel, build_model
from paretomoo.models._module import ModulePopulation, choose_mode
from paretomoo.spec import StudySpec
from paretomoo.tasks import all_metrics, task_loss

__all__ = [
    "CHECK_ROWS",
    "EVAL_MEMBER_ROWS",
    "EVAL_ROWS",
    "SCALARIZATIONS",
    "TCHEBYCHEFF_MU",
    "Checkpoint",
    "MemberResult",
    "SharedData",
    "Trainer",
    "adamw",
    "batch_entries",
    "is_out_of_memory",
    "label_standardisation",
    "resolve_device",
]

CHECK_ROWS = 4096  # validation rows a user's metric is tried on before a study is stored (Trainer.check_model)


class Trainer(Evaluation):
    """Holds the data on the device and fits populations of models.

    ``fit(lam[K, T])`` is the one entry point; call it as often as needed.
    ``data`` is the data set, or another CPU trainer's ``shared()`` splits.
    """

    def __init__(self, spec: StudySpec, data: Dataset | SharedData, device: torch.device | str = "auto") -> None:
        self.spec = spec
        self.device = resolve_device(device) if isinstance(device, str) else device
        if self.device.type == "cuda":
            # Deterministic kernels (embedding backward, bmm) for reproducible weights.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        tasks = spec.tasks
        if isinstance(data, SharedData):
            if self.device.type != "cpu":
                raise ValueError("shared data serves CPU trainers; a GPU trainer loads its data onto its device")
            self.train, self.val, self.test = data.train, data.val, data.test
            n_num, cardinalities = data.n_num, data.cardinalities
        else:
            self.train = to_tensors(data.train, tasks, self.device)
            self.val = to_tensors(data.val, tasks, self.device)
            self.test = to_tensors(data.test, tasks, self.device)
            n_num, cardinalities = data.train.num.shape[1], data.cardinalities
        shift, scale = label_standardisation(spec, self.train.y)
        self.shape = ModelShape(
            n_num=n_num,
            cardinalities=cardinalities,
            n_tasks=len(tasks),
            label_shift=shift,
            label_scale=scale,
            tasks=tuple(spec.task_names),
            inputs=batch_entries(self.train, self.val, self.test),
        )
        # tasks measured on some rows only (a where filter, or NaN labels from a user loader): losses mask them
        self.masked = [t.where is not None or bool(torch.isnan(self.train.y[:, i]).any()) for i, t in enumerate(tasks)]
        self.population_mode: dict[int, tuple[str, str]] = {}  # K → (mode, why) chosen for a user module's members
        self.kept_mode: tuple[str, str] | None = None  # the study's mode (keep_mode), for every K
        self.pos_weight = [
            torch.tensor(t.pos_weight, device=self.device) if t.loss == "bce" and t.pos_weight != 1.0 else None for t in tasks
        ]
        self.loss_scale = [scale[i] if scale is not None and t.loss == "mse" else None for i, t in enumerate(tasks)]
        self._weights: dict[str, torch.Tensor] = {}  # bootstrap weights of "val" and "test"

    def shared(self) -> SharedData | None:
        """The splits, moved into shared memory (in place: this trainer goes on reading the same tensors), for the
        other trainer processes of this host: one copy of the data per host, whatever the number of processes.

        None (each process then loads its own copy) when ``PARETOMOO_SHARE_DATA=0``, or when ``/dev/shm`` has
        less room than the data (a container's default is 64 MB), which a warning says.
        """
        if self.device.type != "cpu" or os.environ.get("PARETOMOO_SHARE_DATA", "1") == "0":
            return None
        tensors = [t for split in (self.train, self.val, self.test) for t in [*split.features.values(), split.y, *split.groups.values()]]
        size = sum(t.numel() * t.element_size() for t in tensors)
        if os.path.isdir("/dev/shm"):
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize < 1.1 * size:
                warnings.warn(
                    f"/dev/shm has {st.f_bavail * st.f_frsize / 2**20:.0f} MB free, less than the data's {size / 2**20:.0f} MB: each "
                    "training process loads its own copy (in Docker, run with --shm-size to share it)",
                    stacklevel=2,
                )
                return None
        for t in tensors:
            t.share_memory_()
        return SharedData(self.train, self.val, self.test, self.shape.n_num, self.shape.cardinalities)

    def new_model(self, population: int, seed: int | None = None) -> PopulationModel:
        s = self.spec.training.seed if seed is None else seed
        return build_model(self.shape, self.spec.model, [s] * population).to(self.device)

    def warm_up(self) -> None:
        """Do now what the first ``fit`` of a process would pay for once.

        Creating the first ``torch.optim`` optimizer imports ``torch._dynamo``
        (about a second on a 2-core CPU); a worker process does it while it
        starts, beside the study's own start-up, rather than in its first pass.
        """
        adamw([torch.nn.Parameter(torch.zeros(1, device=self.device))], self.spec.training.lr, self.spec.training.weight_decay)

    def member_bytes(self) -> int:
        """An estimate of the device memory one population member needs while it trains.

        Parameters, their gradients and AdamW's two moments (4 × the weights),
        plus what the forward pass of one batch saves for the backward pass,
        counted on a one-member model on the CPU, twice (the saved tensors and
        their gradients are alive together at the peak).
        """
        model = build_model(self.shape, self.spec.model, [self.spec.training.seed])
        if isinstance(model, ModulePopulation):
            model.mode = "sequential"  # one member: the same tensors either way, and any module runs so (vmap may not)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        rows = min(self.spec.training.batch_size, len(self.train))
        batch, y = {k: v.cpu() for k, v in self.train.rows(0, rows).items()}, self.train.y[:rows].cpu()
        saved = 0

        def count(t: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            saved += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
            pred = model(batch)
            pos_weight = [None if w is None else w.cpu() for w in self.pos_weight]
            sum(
                task_loss(t, pred[..., i], y[:, i], pos_weight[i], self.loss_scale[i], self.masked[i]).sum()
                for i, t in enumerate(self.spec.tasks)
            )
        return 4 * weights + 2 * saved

    def fit(
        self,
        lam: np.ndarray,
        seeds: int | Sequence[int] | None = None,
        start: Sequence[Checkpoint] | None = None,
        epochs: int | None = None,
    ) -> list[MemberResult]:
        """Train ``K = len(lam)`` models, member k with weights ``lam[k]``.

        ``lam[K, T]`` rows lie on the simplex, in the spec's task order.
        ``seeds`` is the training seed of every member (one int for all, or one
        per member; default ``training.seed``): it draws the member's initial
        weights and its batch order, so members with the same seed see the same
        batches (common random numbers) and a λ trained under several seeds
        trains as several members of one pass. Returns one result per member,
        in row order; a member whose loss became NaN/inf is returned with
        ``failed`` set and does not disturb the others.

        Member k's result does not depend on the other rows: training ``lam[k]``
        alone under its seed gives the same weights and metrics, bit for bit on
        a CPU (``tests/test_population.py``), so a trial does not depend on the
        population or the worker it was trained in. A lone λ is trained as a
        population of two (itself twice, the copy discarded): a batched matrix
        product over one matrix takes another kernel than over several, and
        training amplifies that rounding difference into visible metric
        differences (up to 7e-3 after the demo's 6 epochs).

        ``epochs`` (default ``training.epochs``) is how far to train; a member
        stopped short of ``training.epochs`` returns a ``checkpoint`` (weights,
        AdamW's moments, the running ideal point) from which ``start`` (one per
        row, all at the same epoch) goes on. Going on from a checkpoint draws the
        same batches, in the same order, as one uninterrupted training, so
        0 → 2 → 6 epochs gives the weights of 0 → 6, bit for bit on a CPU
        (``tests/test_halving.py``): successive halving never retrains.

        Running out of device memory raises (``torch.cuda.OutOfMemoryError``);
        the caller retries with a smaller K (``_rounds.fit_in_rounds``). A
        lone λ whose pair does not fit trains alone, so that a model that fits
        the device once always trains (its last bits may then differ from a
        population's).
        """
        lam = np.atleast_2d(np.asarray(lam, dtype=np.float64))
        k = lam.shape[0]
        if seeds is None or isinstance(seeds, int):
            member_seeds = [self.spec.training.seed if seeds is None else int(seeds)] * k
        else:
            member_seeds = [int(s) for s in seeds]
            if len(member_seeds) != k:
                raise ValueError(f"seeds must give one seed per row of lam ({k}), got {len(member_seeds)}")
        last = self.spec.training.epochs if epochs is None else int(epochs)
        begin = _start_epoch(start, k, last)
        ckpts = list(start) if start is not None else None
        t0 = time.perf_counter()
        if k > 1:
            results = self._fit(lam, member_seeds, ckpts, begin, last)
        else:
            try:
                results = self._fit(np.vstack([lam, lam]), member_seeds * 2, None if ckpts is None else ckpts * 2, begin, last)[:1]
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                results = []
            if not results:  # out of the except block: the traceback, and the tensors its frames hold, are gone
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                results = self._fit(lam, member_seeds, ckpts, begin, last)
        per = (time.perf_counter() - t0) / k
        mode = self.population_mode.get(max(k, 2), ("native", ""))[0] if self.spec.model.type == "module" else "native"
        for r, s in zip(results, member_seeds, strict=True):
            r.seconds = per
            r.seed = s
            r.population, r.members = mode, max(k, 2)
        return results

    def _fit(
        self, rows: np.ndarray, seeds: list[int], start: list[Checkpoint] | None = None, first: int = 0, last: int | None = None
    ) -> list[MemberResult]:
        last = self.spec.training.epochs if last is None else last
        deterministic = torch.are_deterministic_algorithms_enabled()
        if self.device.type == "cuda":
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            model = self.new_population(seeds)
            opt = adamw(list(model.parameters()), self.spec.training.lr, self.spec.training.weight_decay)
            ideal = None if start is None else _resume(model, opt, start, self.device)
            lam = torch.as_tensor(rows, dtype=torch.float32, device=self.device)
            bad_epoch, ideal = self._train(model, opt, lam, seeds, first, last, ideal)
            results = self.evaluate(model, rows, bad_epoch)
            if last < self.spec.training.epochs:
                for k, r in enumerate(results):
                    r.checkpoint = None if r.failed else _checkpoint(model, opt, ideal, k, last)
            return results
        finally:
            torch.use_deterministic_algorithms(deterministic)

    def _train(
        self,
        model: PopulationModel,
        opt: torch.optim.AdamW,
        lam: torch.Tensor,
        seeds: list[int],
        first: int,
        last: int,
        ideal: torch.Tensor | None,
    ) -> tuple[list[int], torch.Tensor | None]:
        """Epochs ``first`` to ``last`` (the batch orders of the epochs before ``first`` are drawn and skipped);
        returns each member's first diverged epoch (−1: none) and the running ideal point ``[K, T]``."""
        cfg = self.spec.training
        k = lam.shape[0]
        bad = torch.zeros(k, dtype=torch.bool, device=self.device)
        bad_epoch = [-1] * k
        scalarize = SCALARIZATIONS[self.spec.search.scalarization]
        model.train()
        # ideal [K, T]: each member's lowest task losses so far (Tchebycheff's ideal point)
        for epoch, batches in _batches.epochs(self.train, seeds, cfg.batch_size, first, last):
            for batch, y, stacked in batches:
                losses = self.losses(model(batch, stacked=stacked), y)  # [K, T]
                per_member = scalarize(lam, losses, ideal)
                ideal = losses.detach() if ideal is None else torch.minimum(ideal, losses.detach())
                bad |= ~torch.isfinite(per_member)
                # A diverged member is dropped from the sum so that it cannot
                # turn the others' updates into NaN.
                total = torch.where(bad, torch.zeros_like(per_member), per_member).sum()
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
            for j in torch.nonzero(bad).flatten().tolist():  # one sync per epoch
                if bad_epoch[j] < 0:
                    bad_epoch[j] = epoch + 1
        return bad_epoch, ideal

    def losses(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Every member's mean loss per task: scores ``pred[K, B, T]`` (the model's own outputs), labels ``y[B, T]``
        (or ``[K, B, T]``, one batch per member) → ``[K, T]``."""
        return torch.stack(
            [
                task_loss(t, pred[..., i], y[..., i], self.pos_weight[i], self.loss_scale[i], self.masked[i])
                for i, t in enumerate(self.spec.tasks)
            ],
            dim=-1,
        )

    def check_model(self) -> None:
        """Build the model, take one training step on the first batch (changing nothing) and measure the user's own
        metrics on the first validation rows, so that what the user's code gets wrong (a factory that does not import
        or raises, scores of the wrong shape or NaN, a loss that is not per row, a metric that fails or returns no
        number) is a one-line ``UserError`` before a study is stored. A built-in model with built-in metrics needs none."""
        users = [i for i, t in enumerate(self.spec.tasks) if is_target(t.metric)]
        if self.spec.model.type != "module" and not users:
            return
        model = self.new_population([self.spec.training.seed] * 2)  # the mode of a pair is kept: a lone λ trains as one
        if users:
            n = min(len(self.val), CHECK_ROWS)
            with torch.no_grad():
                scores = model.eval()(self.val.rows(0, n))
            for i in users:
                group = self.val.groups.get(i)
                all_metrics(self.spec.tasks[i], scores[0, :, i], self.val.y[:n, i], None if group is None else group[:n])

    def new_population(self, seeds: list[int]) -> PopulationModel:
        """The spec's model with one member per seed, on the device; a user module's members run in the mode chosen
        for this population size (``[model] population``: timed once per size when "auto")."""
        model = build_model(self.shape, self.spec.model, seeds).to(self.device)
        if isinstance(model, ModulePopulation):
            k = len(seeds)
            if k not in self.population_mode:
                batch = self.train.rows(0, min(self.spec.training.batch_size, len(self.train)))
                y = self.train.y[: min(self.spec.training.batch_size, len(self.train))]
                wanted = self.kept_mode[0] if self.kept_mode is not None else self.spec.model.population
                chosen = choose_mode(model, batch, lambda p: self.losses(p, y).sum(), wanted)
                self.population_mode[k] = self.kept_mode or chosen
            model.mode = self.population_mode[k][0]
        return model

    def keep_mode(self, mode: str, why: str) -> None:
        """Run a user module's members in ``mode`` from now on, whatever the population size: the mode a study chose
        when it was created (vmap and one at a time differ in the last bits, so every run and process of a study uses
        one)."""
        self.kept_mode = (mode, why)
        self.population_mode = {}
