"""What the HTML report shows, gathered from a study (the rest of ``paretomoo.report`` draws it and knows nothing of the store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from optuna.trial import TrialState

from paretomoo._drawing import clock
from paretomoo._method import method_of_study
from paretomoo.front import dominates, to_min
from paretomoo.report import Baseline, Check, ReportData, StudyFront

if TYPE_CHECKING:
    from paretomoo._view import StudyView
    from paretomoo.store import BaselineRecord, Record


def report_data(study: StudyView, others: Sequence[StudyView] = ()) -> ReportData:
    """The report of ``study``; with ``others``, their fronts overlaid and compared against a common reference."""
    from paretomoo.plots import history_data

    s = study.summary
    spec = study.spec
    if not s.complete:
        from paretomoo.errors import UserError

        raise UserError(f"study {study.name!r} has no complete trial yet; run it first (paretomoo run SPEC)")
    pick = study.pick()
    h = history_data(s)
    n, m = len(s.complete), len(s.names)
    ref = ", ".join(f"{name}={v:.4g}" for name, v in zip(s.names, s.ref_natural(), strict=True))
    facts = [
        ("data", _data_text(study)),
        ("tasks", "; ".join(f"{t.name}: {t.metric} ({t.loss} loss){f', where {t.where}' if t.where else ''}" for t in spec.tasks)),
        ("model", _model_text(study)),
        ("budget", _budget_text(study)),
        ("wall time", _wall_text(study)),
        ("hypervolume", f"{s.hv:.4g}{s.hv_text} on validation; reference point {ref}"),
        ("front", f"{len(s.front)} of {n} complete trials; selection on validation, test figures held out"),
    ]
    method = method_of_study(spec.search.optimizer, study.store.study.user_attrs)  # a method's own facts and checks
    facts += method.report_facts(spec, s.records, study.store.study.user_attrs)
    checks = [Check(g.exact, g.point, g.end, np.array(g.gap), np.array(g.noise)) for g in method.checks(spec, s.records)]
    baselines = study_baselines(study)
    return ReportData(
        title=spec.name,
        facts=facts,
        names=list(s.names),
        directions=list(s.directions),
        tasks=list(spec.task_names),
        numbers=np.array([r.number for r in s.complete]),
        lam=np.array([[r.lam.get(t, np.nan) for t in spec.task_names] for r in s.complete]).reshape(n, -1),
        values=s.values,
        test=np.array([[r.test.get(t.name, {}).get(t.metric, np.nan) for t in spec.tasks] for r in s.complete]).reshape(n, m),
        se=np.nan_to_num(s.se) if s.evidence is not None else np.zeros((n, m)),
        p_front=s.p_front if s.evidence is not None else s.on_front.astype(np.float64),
        on_front=s.on_front,
        hv_trials=h.trials,
        hv_history=h.hypervolume,
        hv_low=h.low,
        hv_high=h.high,
        chosen=pick.trial,
        pick_lines=[f"picked trial {pick.trial}: {pick.reason}", _lam_line(study, pick.record), *[x.strip() for x in pick.lines()]],
        baselines=baselines,
        baseline_lines=baseline_lines(baselines),
        studies=_fronts(study, others) if others else [],
        checks=checks,
    )


def study_baselines(study: StudyView, records: Sequence[BaselineRecord] | None = None) -> list[Baseline]:
    """Each complete baseline: its metrics, its cost against ``ew`` (one fixed-λ training through the same loop, same
    seed), and the front trials that dominate it on the validation means."""
    from paretomoo.baselines import METHODS

    s = study.summary
    done = [b for b in (study.baselines() if records is None else records) if b.state == "complete"]
    ew = {b.seed: b.seconds for b in done if b.method == "ew"}
    F = to_min(s.values, s.directions)
    front = np.flatnonzero(s.on_front)
    out = []
    for b in done:
        f = to_min(np.asarray(b.values), s.directions)[0]
        by = [s.complete[i].number for i in front[dominates(F[front], f)]]
        info = METHODS.get(b.method)
        title = f"{info.title} ({info.reference})" if info is not None else b.method
        cost = b.seconds / ew[b.seed] if b.seed in ew and ew[b.seed] > 0 else float("nan")
        label = b.method if sum(x.method == b.method for x in done) == 1 else f"{b.method} (seed {b.seed})"
        out.append(Baseline(label, title, np.asarray(b.values), np.asarray(b.test_values), cost, by))
    return out


def baseline_lines(rows: Sequence[Baseline]) -> list[str]:
    """Which baselines the front dominates (some front point is at least as good on every objective, better on one)."""
    if not rows:
        return []
    beaten = [b.method for b in rows if b.dominated_by]
    kept = [b.method for b in rows if not b.dominated_by]
    lines = []
    if beaten:
        lines.append(f"the front dominates {', '.join(beaten)} (on the validation means)")
    if kept:
        lines.append(f"the front does not dominate {', '.join(kept)}: no front point is at least as good on every objective")
    return lines


def _fronts(study: StudyView, others: Sequence[StudyView]) -> list[StudyFront]:
    from paretomoo.comparison import compare

    c = compare([study, *others])
    return [
        StudyFront(
            name, c.values[a], c.on_front[a], c.hv[a], {other: float(c.dominated[a, b]) for b, other in enumerate(c.studies) if b != a}
        )
        for a, name in enumerate(c.studies)
    ]


def _lam_line(study: StudyView, rec: Record) -> str:
    return "λ " + ", ".join(f"{t} = {rec.lam[t]:.4g}" for t in study.spec.task_names)


def _data_text(study: StudyView) -> str:
    spec = study.spec
    fp = study.store.study.user_attrs.get("data_fingerprint") or {}
    rows = fp.get("rows") or {}
    split = " / ".join(f"{rows[k]:,} {k}" for k in ("train", "val", "test") if k in rows)
    files = ", ".join(fp.get("files") or {})
    return f"{spec.data.source}" + (f" ({files})" if files else "") + (f": {split} rows" if split else "")


def _model_text(study: StudyView) -> str:
    mo = study.spec.model
    tr = study.spec.training
    body = f"bottom {list(mo.bottom)}" if mo.type == "shared_bottom" else f"{mo.experts} experts {list(mo.expert)}"
    return f"{mo.type}, {body}, towers {list(mo.tower)}; {tr.epochs} epochs, batch {tr.batch_size}, lr {tr.lr:g}, training seed {tr.seed}"


def _budget_text(study: StudyView) -> str:
    """What the spec asks for and what the store holds (a run's --trials, --optimizer or --repeats may differ from the spec)."""
    from paretomoo.proposers import label

    spec = study.spec
    s = study.summary
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s.counts().items()))
    seeds = sorted({r.repeats for r in s.complete})
    measured = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
    return (
        f"stored: {counts}; seeds per λ: {measured}. The spec asks for {spec.search.trials} trials by {label(spec.search.optimizer)} "
        f"(batch {spec.search.batch}, search seed {spec.search.seed})"
    )


def _wall_text(study: StudyView) -> str:
    trials = study.store.queue.trials((TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED))
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    if not starts or not ends:
        return "unknown"
    span = (max(ends) - min(starts)).total_seconds()
    train = sum(
        r.seconds for r in study.summary.records if r.state in ("complete", "failed", "pruned", "promoted") and np.isfinite(r.seconds)
    )
    return f"{clock(span)} from the first trial's start to the last one's end; {train:,.1f} s of training, summed over λ"
