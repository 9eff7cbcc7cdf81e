"""The commands that look after a storage: ``studies``, ``delete`` and ``gc`` (thin layers over ``paretomoo.admin``).

paretomoo studies --storage URL          every study: trials by state, front, hypervolume, optimizer, last update
paretomoo delete STUDY --storage URL     what would be removed; --yes removes the study, its baselines and weights
paretomoo gc STUDY                       checkpoints and files the study no longer needs; --yes removes them
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paretomoo.admin import Item


def add_commands(sub: Any) -> None:
    """Add the three commands to the CLI's subparsers."""
    studies = sub.add_parser("studies", help="list every study in a storage: trials by state, front, hypervolume, last update")
    studies.add_argument("--storage", required=True, help="SQLAlchemy URL of the study store")
    studies.add_argument("--json", action="store_true", help="one JSON object per study")

    delete = sub.add_parser("delete", help="remove a study, its baselines and its trained weights (with --yes; else say what would go)")
    delete.add_argument("study", help="spec file, or a study name with --storage")
    delete.add_argument("--storage", help="SQLAlchemy URL of the study store")
    delete.add_argument("--yes", action="store_true", help="remove; without it nothing is removed")

    gc = sub.add_parser("gc", help="remove checkpoints no trial will go on from and files no trial refers to (with --yes; else a dry run)")
    gc.add_argument("study", help="spec file, or a study name with --storage")
    gc.add_argument("--storage", help="SQLAlchemy URL of the study store")
    gc.add_argument("--yes", action="store_true", help="remove; without it nothing is removed")
    gc.add_argument("--json", action="store_true", help="what was (or would be) removed, as JSON")


def _studies(args: argparse.Namespace) -> int:
    from paretomoo.admin import list_studies
    from paretomoo.admin._listing import table

    rows = list_studies(args.storage)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print("\n".join(table(rows)))
    return 0


def _delete(args: argparse.Namespace) -> int:
    from paretomoo.admin import delete_study

    name, url = _name_and_storage(args.study, args.storage)
    plan = delete_study(name, url, yes=args.yes, on_remove=_shown(args.yes))
    if not args.yes:
        for item in plan.files:
            print(f"  {item.line()}")
    studies = " and ".join(repr(s) for s in plan.studies)
    files = f"{len(plan.files)} file{'' if len(plan.files) == 1 else 's'} ({_human(plan.bytes)})"
    if plan.removed:
        print(f"removed {studies} and {files}")
    else:
        print(f"would remove {studies} and {files}; run again with --yes to remove them")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from paretomoo.admin import gc_study

    plan = gc_study(args.study, args.storage, yes=args.yes, on_remove=None if args.json else _shown(args.yes))
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    if not args.yes:
        for item in plan.files:
            print(f"  {item.line()}")
    files = f"{len(plan.files)} file{'' if len(plan.files) == 1 else 's'}, {_human(plan.bytes)}"
    if not plan.files:
        print(f"study {plan.study}: nothing to remove")
    elif plan.removed:
        print(f"study {plan.study}: removed {files}")
    else:
        print(f"study {plan.study}: would remove {files}; run again with --yes to remove them")
    return 0


def _shown(yes: bool) -> Callable[[Item], None] | None:
    """Print each file as it is removed (so a run cut short has said how far it got)."""
    if not yes:
        return None
    return lambda item: print(f"  removed {item.line()}", flush=True)


def _human(n: int) -> str:
    from paretomoo.admin._removal import human

    return human(n)


def _name_and_storage(target: str, storage: str | None) -> tuple[str, str]:
    """A study named as the other commands name it: a spec file (its name and storage), or a name with --storage."""
    from pathlib import Path

    from paretomoo.errors import UserError

    if target.endswith(".toml") or Path(target).is_file():
        from paretomoo.spec import load_spec

        spec = load_spec(target)
        return spec.name, storage or spec.storage
    if storage is None:
        raise UserError(f"{target!r} is not a spec file; pass a spec file, or a study name with --storage URL")
    return target, storage


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"studies": _studies, "delete": _delete, "gc": _gc}
