"""What the command line prints: the progress line, the status and front table, a pick."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from paretomoo._method import method_of_study

if TYPE_CHECKING:
    from paretomoo.api import Study
    from paretomoo.spec import StudySpec
    from paretomoo.store import Record
    from paretomoo.summary import Summary
    from paretomoo.worker import Progress


class ProgressLine:
    """One live line on a terminal; one line per training pass otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.shown = False

    def update(self, p: Progress) -> None:
        if self.quiet:
            return
        width = 24
        fill = int(width * min(p.done / max(p.total, 1), 1.0))
        failed = f"  failed {p.failed}" if p.failed else ""
        line = (
            f"trial {p.done}/{p.total} [{'#' * fill}{'.' * (width - fill)}] "
            f"elapsed {_clock(p.elapsed)}  ETA {_clock(p.eta)}  hypervolume {p.hypervolume:.4g}{failed}"
        )
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
            self.shown = True
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def print_status(study: Study, *, with_hint: bool, target: str) -> None:
    from paretomoo.halving import spent

    spec = study.spec
    s = study.summary
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s.counts().items())) or "no trials"
    ref = ", ".join(f"{n}={v:.4g}" for n, v in zip(s.names, s.ref_natural(), strict=True))
    print(f"study {spec.name}: {counts}; front {len(s.front)} points; hypervolume {s.hv:.4g}{s.hv_text} (validation; reference {ref})")
    halving = spent(spec, s.records)
    if halving is not None:
        print(halving)
    attrs = study.store.study.user_attrs
    for line in method_of_study(spec.search.optimizer, attrs).status_lines(spec, s.records, attrs):
        print(line)
    if s.front:
        print(front_table(spec, s))
    failed = [r for r in s.records if r.state == "failed"]
    for r in failed[:5]:
        print(f"  trial {r.number} failed: {r.fail_reason}")
    if s.verdict is not None:
        print(s.verdict.text)
    print_baselines(study, brief=True)
    if with_hint:
        print(f"next: paretomoo plot {target}  |  paretomoo pick {target}  |  paretomoo export {target} --out exports/{spec.name}")


def front_table(spec: StudySpec, s: Summary) -> str:
    """The front, trial by trial: λ, P(front), repeats, validation means ± standard error, test means: its trained
    trials, and how many conditioned points it holds besides (``status --json`` lists every point)."""
    tasks = spec.task_names
    head = ["trial"] + [f"λ {t}" for t in tasks] + ["P(front)", "seeds"]
    head += [f"{o} val" for o in spec.objectives] + [f"{o} test" for o in spec.objectives]
    rows = []
    index = {r.number: i for i, r in enumerate(s.complete)}
    front = [r for r in s.front if r.conditioned is None]
    for r in sorted(front, key=lambda r: r.number):
        i = index[r.number]
        p = f"{s.p_front[i]:.2f}" if len(s.p_front) else "-"
        se = s.se[i] if len(s.se) else np.full(len(s.names), np.nan)
        rows.append(
            [str(r.number)]
            + [f"{r.lam[t]:.3g}" for t in tasks]
            + [p, str(r.repeats)]
            + [f"{v:.4f}" + (f"±{e:.4f}" if np.isfinite(e) and e > 0 else "") for v, e in zip(r.values, se, strict=True)]
            + [f"{r.test.get(t.name, {}).get(t.metric, math.nan):.4f}" for t in spec.tasks]
        )
    if not rows:  # no trained trial on the front: no table of none
        return f"(the front is {len(s.front)} conditioned points: paretomoo status --json lists every point)"
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if len(front) < len(s.front):
        lines.append(f"(and {len(s.front) - len(front)} conditioned points of the front: paretomoo status --json lists every point)")
    return "\n".join(lines)


def print_choice(spec: StudySpec, rec: Record, reason: str) -> None:
    print(f"picked trial {rec.number}: {reason}")
    print("  λ          " + "  ".join(f"{t}={rec.lam[t]:.4g}" for t in spec.task_names))
    print("  validation " + "  ".join(f"{t.objective}={rec.val[t.name][t.metric]:.4f}" for t in spec.tasks))
    if rec.measured_test:
        print("  test       " + "  ".join(f"{t.objective}={rec.test[t.name][t.metric]:.4f}" for t in spec.tasks))
    else:
        print("  test       not measured (a conditioned λ screened on validation only, off its front)")


def print_baselines(study: Study, *, brief: bool = False) -> None:
    """The study's baselines: a table (metrics, cost against ``ew``, the front trials that dominate each) and which the
    front dominates; ``brief``: the last part only."""
    stored = study.baselines()
    if not stored:
        return
    from paretomoo.report._from_study import baseline_lines, study_baselines

    rows = study_baselines(study, stored)
    if not brief:
        names = study.spec.objectives
        head = ["baseline", *[f"{o} val" for o in names], *[f"{o} test" for o in names], "cost ÷ ew", "dominated by"]
        body = [
            [b.method, *[f"{v:.4f}" for v in b.values], *[f"{v:.4f}" for v in b.test], f"{b.cost:.2f}", _trials(b.dominated_by)]
            for b in rows
        ]
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
        for r in body:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    for line in baseline_lines(rows):
        print(line)


def _trials(numbers: list[int]) -> str:
    if not numbers:
        return "-"
    shown = ", ".join(map(str, numbers[:6]))
    return f"trials {shown}" + (f" (+{len(numbers) - 6})" if len(numbers) > 6 else "")
