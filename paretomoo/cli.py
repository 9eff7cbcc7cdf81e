"""Command line: thin commands over the library.

    paretomoo run SPEC       run or resume a study
    paretomoo status STUDY   the front as a table (--json: every trial)
    paretomoo plot STUDY     front figures to plots/<study>/
    paretomoo pick STUDY     choose one trade-off and say why
    paretomoo export STUDY   write λ, metrics, spec and weights of one trial
    paretomoo report STUDY   one self-contained HTML report
    paretomoo compare STUDY STUDY...     fronts overlaid, hypervolumes against one reference
    paretomoo baseline SPEC --method M   adaptive-weighting baselines, stored beside the trials
    paretomoo studies / delete / gc      list a storage's studies, delete one, remove files a study no longer needs

STUDY is a spec file (which names its storage) or a study name with --storage.
Every command is a thin layer over ``paretomoo.api`` (``paretomoo.open_study``).
Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from paretomoo._cli_admin import COMMANDS as ADMIN_COMMANDS
from paretomoo._cli_admin import add_commands as add_admin_commands
from paretomoo._console import ProgressLine, print_baselines, print_choice, print_status
from paretomoo.errors import StudyWarning, UserError

if TYPE_CHECKING:  # the command line loads these only for the commands that use them
    from paretomoo.api import Study
    from paretomoo.spec import StudySpec
    from paretomoo.store import BaselineRecord, Store
    from paretomoo.study import Layout
    from paretomoo.trainer import Trainer


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


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: TextIO | None = None, line: str | None = None
) -> None:
    """A ``StudyWarning`` as one line; any other warning as Python shows it."""
    if issubclass(category, StudyWarning):
        print(f"paretomoo: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "run": _run,
        "worker": _worker,
        "status": _status,
        "plot": _plot,
        "report": _report,
        "compare": _compare,
        "baseline": _baseline,
        "pick": _pick,
        "export": _export,
        **ADMIN_COMMANDS,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", StudyWarning)
            warnings.showwarning = _show_warning
            return commands[args.command](args)
    except UserError as exc:
        print(f"paretomoo: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except BrokenPipeError:  # the reader went away (e.g. `paretomoo status --json | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("\nparetomoo: interrupted; finished trials are stored, run the same command again to resume", file=sys.stderr)
        return 130


# -- run ----------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from paretomoo.proposers import CONDITIONED
    from paretomoo.spec import CONDITIONED_CHECKS, check_conditioned, load_spec

    spec = load_spec(args.spec)
    overrides: dict[str, dict[str, object]] = {"search": {}, "training": {}}
    if args.optimizer:
        overrides["search"]["optimizer"] = args.optimizer
        if args.optimizer == CONDITIONED and spec.search.optimizer != CONDITIONED:
            overrides["search"]["trials"] = CONDITIONED_CHECKS  # its trials are exact checks (unless --trials says)
    if args.trials:
        overrides["search"]["trials"] = args.trials
    if args.repeats is not None:
        from paretomoo.spec import parse_repeats

        value: int | str = int(args.repeats) if args.repeats.strip().lstrip("-").isdigit() else args.repeats
        overrides["search"]["repeats"], overrides["search"]["adaptive"] = parse_repeats(value, "--repeats")
    if args.device:
        overrides["training"]["device"] = args.device
    if args.population:
        overrides["training"]["population"] = args.population
    if args.workers:
        overrides["training"]["workers"] = args.workers
    if args.data_dir:
        overrides["data"] = _data_dir(spec, args)
    spec = spec.replace(**overrides)
    if spec.search.optimizer == CONDITIONED:
        check_conditioned(spec.search)
    from paretomoo.study import run_study  # torch, Optuna, pymoo: only once the spec and flags are known to be good

    bar = ProgressLine(quiet=args.quiet)

    from paretomoo.proposers import label

    def on_start(store: Store, trainer: Trainer, layout: Layout) -> None:
        n_params = sum(p.numel() for p in trainer.new_model(1).parameters())
        done = store.n_finished()
        procs = f"{layout.workers} processes × " if layout.workers > 1 else ""
        print(
            f"study {spec.name}: {done}/{spec.search.trials} trials stored in {args.storage or spec.storage}\n"
            f"  optimizer {label(spec.search.optimizer)} (batch {spec.search.batch}, seed {spec.search.seed}); "
            f"device {trainer.device}, {procs}{layout.population} λ per training pass; {spec.model.type} with {n_params:,} parameters; "
            f"{len(trainer.train):,} train / {len(trainer.val):,} val / {len(trainer.test):,} test rows",
            flush=True,
        )
        if spec.model.type == "module":  # how its members run, chosen (and checked on the first batch) now
            k = max(layout.population, 2)
            trainer.new_population([spec.training.seed] * k)
            mode, why = trainer.population_mode[k]
            print(f"  members: {mode}, {k} at a time ({why})", flush=True)
        if spec.search.optimizer == CONDITIONED and "conditioned" not in store.study.user_attrs:
            print(
                f"  conditioned: training {spec.search.repeats} λ-conditioned model(s) on λ ~ Dirichlet({spec.search.alpha:g}), then "
                f"measuring {spec.search.points + store.space.dim + 1} λ; the {spec.search.trials} trials retrain points of its front exactly",
                flush=True,
            )

    store = run_study(spec, storage=args.storage, device=args.device, on_start=on_start, on_progress=bar.update)
    bar.close()
    from paretomoo.api import Study

    print_status(Study(store), with_hint=True, target=args.spec)
    return 0


def _data_dir(spec: StudySpec, args: argparse.Namespace) -> dict[str, object]:
    """The ``[data]`` override of ``--data-dir``, refused for a source that reads no files or a path that is no folder."""
    from paretomoo.data import SOURCES

    if not SOURCES[spec.data.source].reads_files:
        raise UserError(f"--data-dir only applies to data sources that read files; {args.spec} uses {spec.data.source!r}, so drop the flag")
    if not Path(args.data_dir).is_dir():
        raise UserError(f"--data-dir {args.data_dir} is not a folder; pass the folder that holds the spec's data files")
    return {"data_dir": str(Path(args.data_dir).resolve())}


def _worker(args: argparse.Namespace) -> int:
    import torch

    from paretomoo.spec import load_spec
    from paretomoo.study import execute, prepare
    from paretomoo.worker import WorkerOptions

    spec = load_spec(args.spec)
    # One worker is one process: run several, on as many hosts as you like.
    overrides: dict[str, object] = {"workers": 1}
    if args.population:
        overrides["population"] = args.population
    spec = spec.replace(training=overrides)
    if args.threads:
        torch.set_num_threads(args.threads)
    store, trainer, layout = prepare(spec, storage=args.storage, device=args.device, heartbeat=args.heartbeat)
    bar = ProgressLine(quiet=args.quiet)
    stats = execute(store, trainer, layout, WorkerOptions(heartbeat=args.heartbeat, patience=args.patience), on_progress=bar.update)
    bar.close()
    if args.stats:
        Path(args.stats).write_text(json.dumps({**dataclasses.asdict(stats), "store_ms_per_trial": stats.store_ms_per_trial}) + "\n")
    if not args.quiet:
        print(
            f"worker finished {stats.trials} trials (training {stats.train_s:.1f} s, store {stats.store_ms_per_trial:.1f} ms "
            f"per trial, waiting {stats.wait_s:.1f} s); study {spec.name}: {store.n_finished()}/{spec.search.trials} done"
        )
    return 0


# -- status / plot / report / compare ---------------------------------------------------


def _open(args: argparse.Namespace) -> Study:
    from paretomoo.api import open_study

    return open_study(args.study, args.storage)


def _status(args: argparse.Namespace) -> int:
    study = _open(args)
    if args.json:
        from paretomoo.store import dumps

        s = study.summary
        p_front = {r.number: float(p) for r, p in zip(s.complete, s.p_front, strict=False)}
        print(dumps(s.records, p_front))
        return 0
    print_status(study, with_hint=False, target=args.study)
    return 0


def _plot(args: argparse.Namespace) -> int:
    for path in _open(args).plot(args.out):
        print(path)
    return 0


def _report(args: argparse.Namespace) -> int:
    print(_open(args).report(args.out))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from paretomoo.api import open_study
    from paretomoo.comparison import compare

    studies = [open_study(target, args.storage) for target in args.studies]
    print("\n".join(compare(studies).lines()))
    out = args.out or f"plots/compare-{'-vs-'.join(st.name for st in studies[:3])}/report.html"
    print(studies[0].report(out, others=studies[1:]))
    return 0


# -- baselines ------------------------------------------------------------------


def _baseline(args: argparse.Namespace) -> int:
    from paretomoo.api import open_study, train_baselines
    from paretomoo.baselines import METHODS
    from paretomoo.spec import load_spec

    methods = [m.strip() for text in args.method for m in text.split(",") if m.strip()]
    if "all" in methods:
        methods = list(METHODS)
    if not methods:
        raise UserError(f"--method names no method; give one or more of {', '.join(METHODS)} (comma-separated), or all")

    spec = load_spec(args.spec)
    if args.data_dir:
        spec = spec.replace(data=_data_dir(spec, args))

    def shown(rec: BaselineRecord) -> None:
        if rec.state != "complete":
            print(f"baseline {rec.method} (seed {rec.seed}) failed: {rec.fail_reason}")
            return
        print(
            f"baseline {rec.method} (seed {rec.seed}, {rec.seconds:.1f} s): "
            + "  ".join(f"{o}={v:.4f}" for o, v in zip(spec.objectives, rec.values, strict=True))
        )

    def split(names: list[str], total: int) -> None:
        listed = ", ".join(names[:12]) + (f", and {len(names) - 12} more" if len(names) > 12 else "")
        print(f"shared parameters (reached by two or more tasks' losses): {len(names)} of {total}: {listed or 'none'}")

    train_baselines(spec, methods, storage=args.storage, seed=args.seed, device=args.device, on_result=shown, on_split=split)
    print_baselines(open_study(args.spec, args.storage))
    return 0


# -- pick / export --------------------------------------------------------------


def _pick(args: argparse.Namespace) -> int:
    study = _open(args)
    p = study.pick(args.weights, args.constraint, noise=args.noise, method=args.method)
    print_choice(study.spec, p.record, p.reason)
    for line in p.lines():
        print(line)
    if p.seed_noise is not None:
        print(p.seed_noise.describe(study.spec.objectives))
    if p.confirmation is not None:
        print(p.confirmation.line(study.spec.objectives))
        if not p.confirmation.holds:
            print(f"  paretomoo export {args.study} --noise {args.noise} --take-confirmed exports the next candidate that confirms")
    return 0


def _export(args: argparse.Namespace) -> int:
    study = _open(args)
    if args.trial is not None and (args.pick or args.weights or args.constraint or args.method or args.take_confirmed):
        raise UserError(
            "--trial names the trial itself; drop --pick, --method, --weights, --constraint and --take-confirmed, or drop --trial"
        )
    e = study.export(
        args.out,
        trial=args.trial,
        weights=args.weights,
        constraints=args.constraint,
        noise=args.noise,
        verify=not args.no_verify,
        method=args.method,
        take_confirmed=args.take_confirmed,
        format=args.format,
    )
    if e.fluke is not None:
        print(e.fluke.line(study.spec.objectives))
    print_choice(study.spec, e.pick.record, e.pick.reason)
    if e.pick.seed_noise is not None:
        print(e.pick.seed_noise.describe(study.spec.objectives))
    if e.pick.confirmation is not None:
        print(e.pick.confirmation.line(study.spec.objectives))
    graphs = "".join(f", {f.name}" for f in e.onnx.files) if e.onnx is not None else ""
    print(f"exported trial {e.pick.trial} to {e.path}/ (lambda.json, metrics.json, spec.toml, model.pt{graphs})")
    if e.verified is not None:
        print(f"verified: re-measured validation metrics match the stored ones (max |Δ| = {e.verified:.2g})")
    if e.onnx is not None:
        for note in e.onnx.notes:
            print(note)
        if e.onnx.verified is not None:
            print(f"verified onnx: onnxruntime's scores match torch's on the validation rows (max |Δ| = {e.onnx.verified:.2g})")
    print(f'load it: model = paretomoo.load_model("{e.path}")')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
