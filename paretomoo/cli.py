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
The parser is built in ``_cli_parser``; the training commands (run, worker, baseline)
live in ``_cli_train`` and the storage commands in ``_cli_admin``, the reading ones here.
Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from paretomoo._cli_admin import COMMANDS as ADMIN_COMMANDS
from paretomoo._cli_parser import _parser
from paretomoo._cli_train import _baseline, _run, _worker
from paretomoo._console import print_choice, print_status
from paretomoo.errors import StudyWarning, UserError

if TYPE_CHECKING:  # the command line loads these only for the commands that use them
    from paretomoo.api import Study


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: TextIO | None = None, line: str | None = None
) -> None:
    """A ``StudyWarning`` as one line; any other warning as Python shows it."""
    if issubclass(category, StudyWarning):
        print(f"paretomoo: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


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
