"""The command line's argument parser: every command's flags, names from the registries, one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from paretomoo._cli_admin import add_commands as add_admin_commands


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        print(f"paretomoo: error: {message}; see '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="paretomoo", description="Pareto fronts of multi-task models over their loss weights.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    # names from the registries (cheap to import: the implementations load on first use)
    from paretomoo.proposers import OPTIMIZER_NAMES

    run = sub.add_parser("run", help="run or resume the study a spec declares")
    run.add_argument("spec", help="study spec (.toml)")
    run.add_argument("--optimizer", choices=OPTIMIZER_NAMES, help="outer optimizer (default: the spec's)")
    run.add_argument("--trials", type=_positive, help="trial budget (finished trials, earlier runs included)")
    run.add_argument(
        "--repeats",
        metavar="R",
        help='training seeds per λ: R (every λ), or "front:R" (one each, up to R near the front); default the spec\'s',
    )
    run.add_argument("--storage", help="SQLAlchemy URL of the study store (default: the spec's)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training device (default: the spec's)")
    run.add_argument("--population", type=_positive, help="λ trained together in one pass (default: chosen for the device)")
    run.add_argument("--workers", type=_positive, help="training processes (default: one per physical core on CPU, 1 on GPU)")
    run.add_argument("--data-dir", help="folder the spec's data files are read from (default: data.data_dir, relative to the spec)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    worker = sub.add_parser("worker", help="evaluate trials of a shared study until its budget is spent (run one per GPU or host)")
    worker.add_argument("spec", help="study spec (.toml)")
    worker.add_argument("--storage", help="SQLAlchemy URL shared by all workers, e.g. postgresql://user@host/db")
    worker.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training device (default: the spec's)")
    worker.add_argument("--population", type=_positive, help="λ trained together in one pass (default: chosen for the device)")
    worker.add_argument("--threads", type=_positive, help="torch CPU threads of this worker (default: torch's)")
    worker.add_argument(
        "--heartbeat", type=_positive, default=10, help="seconds between heartbeats (default 10; a trial silent for 3 is re-run)"
    )
    worker.add_argument("--patience", type=_positive, default=120, help="seconds to wait for a lost database before stopping (default 120)")
    worker.add_argument("--quiet", action="store_true", help="no progress lines")
    worker.add_argument("--stats", metavar="FILE", help="write where this worker's time went (JSON) when it stops")

    def study_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("study", help="spec file, or a study name with --storage")
        c.add_argument("--storage", help="SQLAlchemy URL of the study store")
        return c

    status = study_cmd("status", "show the front (natural metrics) and the trial counts")
    status.add_argument("--json", action="store_true", help="every trial with state, λ, validation and test metrics")

    plot = study_cmd("plot", "write front figures (PNG)")
    plot.add_argument("--out", help="folder (default: plots/<study>/)")

    report = study_cmd("report", "write one self-contained HTML report of the study (works offline)")
    report.add_argument("--out", help="the HTML file (default: plots/<study>/report.html)")

    comp = sub.add_parser("compare", help="overlay several studies' fronts against a common reference point")
    comp.add_argument("studies", nargs="+", help="spec files, or study names with --storage")
    comp.add_argument("--storage", help="SQLAlchemy URL of the study store (for study names)")
    comp.add_argument("--out", help="the HTML report (default: plots/compare-<a>-vs-<b>/report.html)")

    from paretomoo.baselines import METHODS as BASELINES
    from paretomoo.confirm import CANDIDATES
    from paretomoo.decide import METHODS

    base = sub.add_parser("baseline", help="train adaptive-weighting baselines (one model per method) and store them in the study")
    base.add_argument("spec", help="study spec (.toml); the study is created if new")
    base.add_argument(
        "--method", action="append", required=True, help=f"one of {', '.join(BASELINES)}, a comma-separated list, or all (repeatable)"
    )
    base.add_argument("--storage", help="SQLAlchemy URL of the study store (default: the spec's)")
    base.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training device (default: the spec's)")
    base.add_argument("--seed", type=int, help="training seed (default: the spec's training.seed)")
    base.add_argument("--data-dir", help="folder the spec's data files are read from (default: data.data_dir, relative to the spec)")

    for c in (
        study_cmd("pick", "choose one trade-off from the front and say why"),
        study_cmd("export", "write one trial's λ, metrics, spec and weights"),
    ):
        c.add_argument(
            "--method",
            choices=METHODS,
            help="the rule: balanced (default), the trial whose worst task keeps the largest share of the lift over chance "
            "that the best trial reaches (within noise of the best counts as the best); weights, the same with a preference "
            "(the default with --weights); knee, the knee of the front normalised to its range; pseudo-weights, pymoo's",
        )
        c.add_argument(
            "--weights", help='preference per objective, e.g. "click_auc=2,fraud_pr_auc=1" (for --method weights or pseudo-weights)'
        )
        c.add_argument("--constraint", action="append", default=[], help='e.g. "fraud_pr_auc>=0.30" (repeatable)')
        c.add_argument(
            "--noise",
            type=_seeds,
            metavar="N",
            help="retrain the chosen λ under N (>= 2) other seeds, show the spread and whether it confirms the stored metrics"
            + (
                "; a pick that does not (a seed fluke) is not exported, and the next candidate that does is named "
                "(a trial named with --trial is exported either way)"
                if c.prog.endswith("export")
                else ""
            ),
        )
        if c.prog.endswith("export"):
            c.add_argument(
                "--take-confirmed",
                action="store_true",
                help=f"with --noise: when the pick does not confirm, export the first of the next {CANDIDATES} candidates in its rule's order that does",
            )
            c.add_argument("--trial", type=int, help="trial number (default: what pick chooses)")
            c.add_argument("--pick", action="store_true", help="export what pick chooses (the default without --trial)")
            c.add_argument("--out", help="folder (default: exports/<study>-trial<N>)")
            c.add_argument("--no-verify", action="store_true", help="skip re-measuring the exported model")
            c.add_argument(
                "--format",
                choices=["pt", "onnx"],
                default="pt",
                help="pt: model.pt (default); onnx: model.pt and model.onnx, scores [batch, tasks] from the batch entries "
                "(a conditioned trial: λ an input, model_rows.onnx one λ per row), checked with onnxruntime (docs/serving.md)",
            )
    add_admin_commands(sub)
    return p


def _seeds(text: str) -> int:
    value = _positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 seeds to measure a spread, got {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
