"""The commands that train: ``run`` (a study, resumed where it stopped), ``worker`` (one more process on a shared
study) and ``baseline`` (adaptive-weighting baselines stored beside the trials)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from paretomoo._console import ProgressLine, print_baselines, print_status
from paretomoo._method import method_of
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.spec import StudySpec
    from paretomoo.store import BaselineRecord, Store
    from paretomoo.study import Layout
    from paretomoo.trainer import Trainer


# -- run ----------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from paretomoo.proposers import CONDITIONED
    from paretomoo.spec import CONDITIONED_CHECKS, check_optimizer, load_spec

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
    check_optimizer(spec.search)  # --optimizer may not go with the spec's other keys
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
        line = method_of(spec.search.optimizer).banner(spec, store)
        if line is not None:
            print(line, flush=True)

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
