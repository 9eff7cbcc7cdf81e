"""The user's own code, named by import path: ``"package.module:name"`` or ``"file.py:name"``.

A study stores the paths of its model factory, data loader, losses and metrics
(never the objects), so that a worker on another host, ``status`` and
``load_model`` import them again. A path is resolved with the spec file's folder
(``base``) first on ``sys.path``; ``"file.py:name"`` is a file relative to that
folder (or absolute).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from paretomoo.errors import UserError


def is_target(text: str) -> bool:
    """Whether ``text`` is written as an import path (``module:name``) rather than a registry name."""
    return ":" in text


def load_target(target: str, base: str | Path | None, what: str) -> Any:
    """The object ``target`` names, imported now.

    Args:
        target: ``"package.module:name"`` (``name`` may be dotted: ``Class.method``)
            or ``"path/to/file.py:name"``.
        base: the folder put first on ``sys.path`` and that a relative file path
            starts from (the spec file's folder); None or ``""``: the current folder.
        what: what the path is for, e.g. ``"model.factory"``: named in errors.

    Raises:
        UserError: one line naming the path, what failed and the ``sys.path`` searched.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise UserError(f'{what}: {target!r} is not an import path; write "package.module:function" or "file.py:function"')
    folder = Path(base).expanduser().resolve() if base else Path.cwd()
    if module_name.endswith(".py"):
        module = _load_file(folder / Path(module_name).expanduser(), target, what)
    else:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not module_name.startswith(exc.name) and not exc.name.startswith(module_name):
                raise UserError(f"{what}: importing {module_name!r} failed: {exc} (install what it needs)") from None
            raise UserError(
                f"{what}: no module named {module_name!r} for {target!r}; searched sys.path {_searched()}; "
                "put the module beside the spec file or install it"
            ) from None
        except Exception as exc:
            raise UserError(f"{what}: importing {module_name!r} raised {type(exc).__name__}: {_first_line(exc)}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"{what}: module {module_name!r} has no attribute {attr!r} (from {target!r}); check the name after ':'")
        obj = getattr(obj, part)
    return obj


def _load_file(path: Path, target: str, what: str) -> Any:
    """A module from a ``.py`` file, imported once per path (its folder on ``sys.path`` for its own imports)."""
    path = path.resolve()
    if not path.is_file():
        raise UserError(f"{what}: file {str(path)!r} of {target!r} does not exist; give a path relative to the spec file's folder")
    name = "paretomoo_user_" + "_".join(p for p in path.with_suffix("").parts if p.isidentifier())
    if name in sys.modules:
        return sys.modules[name]
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{what}: cannot import {str(path)!r}; it must be a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"{what}: importing {str(path)!r} raised {type(exc).__name__}: {_first_line(exc)}") from None
    return module


def target_of(fn: Callable[..., Any], what: str) -> str:
    """The import path of a module-level function or class, for a study to store.

    Raises ``UserError`` for what another process could not import again: a
    lambda, a nested function, or one defined in ``__main__`` (a notebook or script).
    """
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    if not callable(fn) or name is None or module is None:
        raise UserError(f"{what}: {fn!r} is not a function or class; pass a module-level function")
    if "<lambda>" in name or "<locals>" in name:
        raise UserError(
            f"{what}: {name} is a lambda or a nested function, which workers and status could not import again; "
            "define it at the top level of a module (a .py file) and pass that"
        )
    if module == "__main__":
        source = inspect.getsourcefile(fn) if inspect.isfunction(fn) or inspect.isclass(fn) else None
        if source and Path(source).is_file() and Path(source).suffix == ".py":
            return f"{Path(source).resolve()}:{name}"
        raise UserError(
            f"{what}: {name} is defined in __main__ (a notebook or an interactive session), which workers and status could "
            "not import again; move it into a .py file beside the notebook and import it from there"
        )
    return f"{module}:{name}"


def call_with(fn: Callable[..., Any], kwargs: dict[str, Any], optional: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` plus each of ``optional`` that ``fn``'s signature names (or takes through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in optional.items() if takes_any or k in params}
    return fn(**kwargs, **extra)


def freeze(value: Any) -> Any:
    """Options as hashable, comparable values (lists → tuples, tables → sorted pairs)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of ``freeze`` for keyword arguments: pairs → a dict at the top level, tuples → lists inside."""
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def options_dict(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: thaw(v) for k, v in pairs}


def _searched() -> str:
    shown = [p or "." for p in sys.path[:6]]
    return "[" + ", ".join(shown) + (", …]" if len(sys.path) > 6 else "]")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"
