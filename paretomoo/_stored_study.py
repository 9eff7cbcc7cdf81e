"""A stored study as the public API shows it (:class:`Study`): its trials, front, pick, export, figures and baselines."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paretomoo._baseline_runs import train_baselines
from paretomoo._results import Exported, Pick
from paretomoo.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from paretomoo.confirm import Confirmation
    from paretomoo.decide import Constraint
    from paretomoo.spec import StudySpec
    from paretomoo.store import BaselineRecord, Store
    from paretomoo.summary import Summary

Weights = str | Mapping[str, float] | None


class Study:
    """A stored study: its trials, front, pick, export, plots, report and baselines."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._summary: Summary | None = None

    @property
    def name(self) -> str:
        return self.store.spec.name

    @property
    def spec(self) -> StudySpec:
        return self.store.spec

    def __repr__(self) -> str:
        s = self.summary
        return f"<paretomoo.Study {self.name!r}: {len(s.complete)} complete trials, front {len(s.front)} points, hypervolume {s.hv:.4g}>"

    def refresh(self) -> Study:
        """Read the store again on next use (trials other processes added)."""
        self._summary = None
        return self

    @property
    def summary(self) -> Summary:
        """The front, its hypervolume and the evidence behind them (``paretomoo.summary.Summary``)."""
        if self._summary is None:
            from paretomoo.summary import summarize

            self._summary = summarize(self.spec, self.store.records())
        return self._summary

    # -- tables ----------------------------------------------------------------------

    def trials_dataframe(self) -> pd.DataFrame:
        """Every trial, one row each (as Optuna's ``study.trials_dataframe()``).

        Columns: ``number``, ``state``, ``lambda_<task>``, ``val_<objective>`` and
        ``val_se_<objective>`` (mean over seeds and its standard error),
        ``test_<objective>``, ``test_se_<objective>``, ``repeats``, ``seconds``,
        ``on_front``, ``p_front`` (NaN where no noise is measured or the trial is not
        complete), ``repeat_of``, ``conditioned`` (measured on the study's λ-conditioned
        models, not trained), ``check_of`` (the conditioned trial an exact retraining
        checks) and ``fail_reason``. Objectives are natural metrics (AUC: higher is
        better) named ``<task>_<metric>``.
        """
        import pandas as pd

        s = self.summary
        front = {r.number for r in s.front}
        p = {r.number: float(v) for r, v in zip(s.complete, s.p_front, strict=False)}
        rows = []
        for r in s.records:
            row: dict[str, object] = {"number": r.number, "state": r.state}
            row.update({f"lambda_{t}": r.lam.get(t, np.nan) for t in self.spec.task_names})
            for t in self.spec.tasks:
                for split, means, ses in (("val", r.val, r.val_se), ("test", r.test, r.test_se)):
                    row[f"{split}_{t.objective}"] = means.get(t.name, {}).get(t.metric, np.nan)
                    row[f"{split}_se_{t.objective}"] = ses.get(t.name, {}).get(t.metric, np.nan)
            row.update(
                repeats=r.repeats,
                seconds=r.seconds,
                on_front=r.number in front,
                p_front=p.get(r.number, np.nan),
                repeat_of=r.repeat_of,
                conditioned=r.conditioned is not None,
                check_of=r.check_of,
                fail_reason=r.fail_reason,
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def checks(self) -> pd.DataFrame:
        """The exact checks of a conditioned study (``optimizer = "conditioned"``), one row each: ``trial`` (the
        exact retraining), ``point`` (the conditioned trial it retrains), ``end`` (the objective whose end the point
        is, or None), and per objective ``gap_<objective>`` (how far the conditioned value falls short of the exact
        one, a fraction; < 0: it scores better) and ``noise_<objective>`` (the noise of that difference, the same
        fraction). Empty for other studies."""
        import pandas as pd

        from paretomoo.conditioned import gaps

        rows = []
        for g in gaps(self.summary.records, self.spec.objectives, self.spec.directions, self.spec.tasks):
            row: dict[str, object] = {"trial": g.exact, "point": g.point, "end": g.end}
            row.update({f"gap_{o}": v for o, v in zip(self.spec.objectives, g.gap, strict=True)})
            row.update({f"noise_{o}": v for o, v in zip(self.spec.objectives, g.noise, strict=True)})
            rows.append(row)
        return pd.DataFrame(rows)

    def front(self) -> pd.DataFrame:
        """The rows of ``trials_dataframe()`` on the front (validation means, non-dominated)."""
        df = self.trials_dataframe()
        return df[df["on_front"]].reset_index(drop=True)

    def baselines(self) -> list[BaselineRecord]:
        """The adaptive-weighting baselines trained for this study (``train_baselines``)."""
        return self.store.baselines.records()

    # -- decisions ---------------------------------------------------------------------

    def pick(self, weights: Weights = None, constraints: Sequence[str] = (), noise: int | None = None, method: str | None = None) -> Pick:
        """Choose one trade-off from the front and say why.

        Args:
            weights: preference per objective, ``"click_auc=2,fraud_pr_auc=1"`` or a mapping.
            constraints: bounds such as ``"fraud_pr_auc>=0.30"``, or with a confidence
                ``"fraud_pr_auc>=0.30@0.9"``.
            noise: retrain the chosen λ under this many (≥ 2) other seeds, attach the spread and
                whether it confirms the trial's stored metrics (``Pick.confirmation``).
            method: ``"balanced"`` (default), ``"knee"``, ``"weights"`` (default with weights) or
                ``"pseudo-weights"``; ``paretomoo.decide`` states each rule.

        Returns:
            The pick: trial, reason, and its firmness under noise.
        """
        from paretomoo.decide import chance_levels, pick, resolve_method, stability
        from paretomoo.summary import LEVEL

        s = self.summary
        if not s.complete:
            raise UserError(f"study {self.name!r} has no complete trial yet; run it first (paretomoo run SPEC)")
        w, cs = self._preferences(weights, constraints)
        method = resolve_method(method, w)
        labels = [f"trial {r.number}" for r in s.complete]
        chance = chance_levels([t.metric for t in self.spec.tasks], s.directions, s.values)
        lam = np.array([[r.lam.get(t, np.nan) for t in self.spec.task_names] for r in s.complete])
        choice = pick(
            s.values,
            s.names,
            s.directions,
            method=method,
            weights=w,
            constraints=cs,
            labels=labels,
            evidence=s.evidence,
            chance=chance,
            lam=lam,
            level=LEVEL,
        )
        rec = s.complete[choice.index]
        within: list[int] = []
        share: float | None = None
        replicates = 0
        covered = ""
        if s.evidence is not None:
            st = stability(
                s.evidence,
                choice.index,
                s.names,
                s.directions,
                method=method,
                weights=w,
                constraints=cs,
                chance=chance,
                lam=lam,
                level=LEVEL,
            )
            within, share, replicates = [s.complete[i].number for i in st.within], st.share, st.replicates
            covered = "seed and row noise" if s.evidence.seed_noise_measured else "row noise only: seed noise not measured"
        verdict = s.verdict.text if s.verdict is not None else None
        order = tuple(s.complete[i].number for i in choice.order)
        chosen = Pick(rec.number, rec, choice.reason, within, share, replicates, covered, verdict, order=order, method=method)
        return self._confirmed(chosen, noise)[0] if noise else chosen

    def _confirmed(self, chosen: Pick, n: int, candidates: int = 0) -> tuple[Pick, list[Confirmation]]:
        """``chosen`` with its seed noise and confirmation under ``n`` fresh seeds, and when that fails, the
        confirmations of the next ``candidates`` trials in its rule's order (one training pass)."""
        from paretomoo.confirm import confirm_trials
        from paretomoo.summary import LEVEL

        [own] = confirm_trials(self.spec, [chosen.record], n, LEVEL)
        chosen = dataclasses.replace(chosen, seed_noise=own.noise, confirmation=own)
        if own.holds or not candidates:
            return chosen, []
        by_number = {r.number: r for r in self.summary.complete}
        nxt = [by_number[t] for t in chosen.order if t != chosen.trial][:candidates]
        return chosen, confirm_trials(self.spec, nxt, n, LEVEL) if nxt else []

    def _preferences(self, weights: Weights, constraints: Sequence[str]) -> tuple[np.ndarray | None, list[Constraint]]:
        from paretomoo.decide import parse_constraint, parse_weights

        names = self.spec.objectives
        if isinstance(weights, Mapping):
            weights = ",".join(f"{k}={v}" for k, v in weights.items())
        if isinstance(constraints, str):
            constraints = [constraints]
        return (parse_weights(weights, names) if weights else None), [parse_constraint(c, names) for c in constraints]

    def export(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        trial: int | None = None,
        weights: Weights = None,
        constraints: Sequence[str] = (),
        noise: int | None = None,
        verify: bool = True,
        method: str | None = None,
        take_confirmed: bool = False,
        format: str = "pt",
    ) -> Exported:
        """Write one trial's λ, metrics, spec and weights to a folder, and check the weights re-measure.

        Args:
            out: the folder (default ``exports/<study>-trial<N>``).
            trial: the trial number; default what ``pick(weights, constraints, method=method)`` chooses.
            noise: retrain its λ under this many (≥ 2) fresh seeds first and confirm its stored metrics
                (``paretomoo.confirm``); the spread and the confirmation go into metrics.json. A pick that
                does not confirm (a seed fluke) is not exported: the next ``confirm.CANDIDATES`` trials in
                its rule's order are confirmed in one pass, and the ``UserError`` names the first that holds.
                A trial named by number is exported either way (``Pick.confirmation`` says how it went).
            take_confirmed: with ``noise``, export that first candidate in place of a pick that does not confirm.
            verify: re-measure the exported model on the validation rows (a ``UserError`` if it differs).
            format: "pt" (model.pt), or "onnx": model.pt and model.onnx (and model_rows.onnx for a conditioned
                trial, one λ per row), checked with onnxruntime against torch (docs/serving.md; needs the
                ``serve`` extra).
        """
        from paretomoo._files import writable_folder
        from paretomoo.confirm import CANDIDATES, replacement
        from paretomoo.export import check_exportable, export_trial, verify_export

        if trial is not None and (weights or constraints or method or take_confirmed):
            raise UserError("export(trial=N) names the trial itself; drop weights, constraints, method and take_confirmed, or drop trial")
        if format not in ("pt", "onnx"):
            raise UserError(f"format must be pt or onnx, got {format!r}")
        if format == "onnx":
            from paretomoo._onnx import require_onnx

            require_onnx()
        if take_confirmed and not noise:
            raise UserError("--take-confirmed needs --noise N, the fresh seeds that confirm the pick; e.g. --noise 3 --take-confirmed")
        if trial is not None:
            rec = self.store.record(trial)
            check_exportable(self.store, rec)
            chosen = Pick(rec.number, rec, "chosen by number", [], None, 0, "", None)
        else:
            chosen = self.pick(weights, constraints, method=method)
        # everything that can be refused is checked before the slow part (retraining for noise)
        created = not Path(out or "exports").exists()
        writable_folder(out or "exports")
        fluke = None
        if noise:
            chosen, others = self._confirmed(chosen, noise, CANDIDATES if trial is None else 0)
            if chosen.confirmation is not None and not chosen.confirmation.holds and trial is None:
                fluke = chosen.confirmation
                try:
                    held = replacement(fluke, others, self.spec.objectives, chosen.method, take_confirmed)
                except UserError:
                    if created:  # a refused export leaves no folder behind
                        Path(out or "exports").rmdir()
                    raise
                reason = f"the first in the {chosen.method} order whose confirmation holds (the pick, trial {fluke.trial}, is a seed fluke)"
                rec = next(r for r in self.summary.complete if r.number == held.trial)
                chosen = Pick(rec.number, rec, reason, [], None, 0, "", None, held.noise, held, chosen.order, chosen.method)
        folder = writable_folder(out or f"exports/{self.name}-trial{chosen.trial}")
        sn = None
        if chosen.seed_noise is not None and chosen.confirmation is not None:
            names = self.spec.objectives
            sn = {**chosen.seed_noise.to_dict(names), "confirmation": chosen.confirmation.to_dict(names)}
        path = export_trial(self.store, chosen.trial, folder, reason=chosen.reason, noise=sn)
        diff = None
        if verify:
            diff = verify_export(path)
            if diff > 1e-4:
                raise UserError(
                    f"the exported model does not reproduce the stored validation metrics (max |Δ| = {diff:.3g}); was the data changed?"
                )
        onnx = None
        if format == "onnx":
            from paretomoo._onnx import write_onnx

            onnx = write_onnx(path, verify)
        else:  # graphs an earlier export left in this folder are of another model
            for stale in ("model.onnx", "model_rows.onnx"):
                (path / stale).unlink(missing_ok=True)
        return Exported(path, chosen, diff, fluke, onnx)

    # -- figures -----------------------------------------------------------------------

    def plot(self, out: str | os.PathLike[str] | None = None) -> list[Path]:
        """Write the front figures (PNG) to ``out`` (default ``plots/<study>/``); the pick is marked."""
        from paretomoo._files import writable_folder
        from paretomoo.plots import write_plots

        chosen = self.pick().trial
        folder = writable_folder(out or f"plots/{self.name}")
        return write_plots(self.summary, self.spec.task_names, self.name, folder, chosen=chosen, baselines=self._baseline_points())

    def report(self, out: str | os.PathLike[str] | None = None, others: Sequence[Study] = ()) -> Path:
        """Write one self-contained HTML report (default ``plots/<study>/report.html``); ``others``: studies to compare with."""
        from paretomoo.report import write_report
        from paretomoo.report._from_study import report_data

        return write_report(report_data(self, others), _html_path(out or f"plots/{self.name}/report.html"))

    def _baseline_points(self) -> list[tuple[str, np.ndarray]]:
        return [(b.method, np.asarray(b.values)) for b in self.baselines() if b.state == "complete"]

    # -- baselines ---------------------------------------------------------------------

    def train_baselines(
        self,
        methods: Sequence[str],
        *,
        seed: int | None = None,
        device: str | None = None,
        on_result: Callable[[BaselineRecord], None] | None = None,
    ) -> list[BaselineRecord]:
        """Train one model per adaptive-weighting method (``paretomoo.baselines.METHODS``) and store it.

        A method already stored under the same seed is not trained again. ``ew`` (equal
        weights, a fixed-λ training through the same loop) is trained too, as the yardstick
        of every method's cost. Returns the records of ``ew`` and ``methods``, in that order.
        """
        out = train_baselines(self.spec, methods, storage=self.store.storage.url, seed=seed, device=device, on_result=on_result)
        self.refresh()
        return out


def _html_path(path: str | os.PathLike[str]) -> Path:
    """An output file the report can be written to: its folder is created; a folder or an unwritable place is refused."""
    from paretomoo._files import writable_folder

    p = Path(path)
    if p.is_dir():
        raise UserError(f"--out {p} is a folder; give the report's file name, e.g. {p / 'report.html'}")
    if p.parent.exists() and not p.parent.is_dir():
        raise UserError(f"--out {p}: {p.parent} is a file, not a folder; choose a path in a folder (it is created if missing)")
    writable_folder(p.parent, "--out")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"cannot write {p} (permission denied); choose another --out")
    return p
