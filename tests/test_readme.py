"""The README and docs/ cannot drift from the code: the quick start's commands run as written (the demo's on a small
copy of its spec), the commands table names real commands and flags, and every relative link resolves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from paretomoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def section(title: str) -> str:
    """The text of the README's ``## title`` section, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def fenced(text: str, lang: str) -> list[str]:
    """The lines of every fenced ``lang`` block, comments and blank lines dropped."""
    lines = []
    for block in re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.splitlines():
            command = " ".join(shlex.split(line, comments=True))
            if command:
                lines.append(command)
    return lines


def cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # --help, or arguments argparse refuses
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def flags(command: str) -> list[str]:
    return re.findall(r"(?<!\S)(--[a-z][a-z-]*)", command)


def test_quick_start_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`./scripts/demo.sh`'s commands on the demo spec made small, then every `paretomoo` line of the quick start, in a
    folder laid out as a clone: each exits 0, and the files the quick start says the demo leaves are there."""
    quick = section("Quick start")
    commands = fenced(quick, "bash")
    scripts = [c.split()[0] for c in commands if c.startswith("./scripts/")]
    assert scripts == ["./scripts/demo.sh", "./scripts/test.sh"]
    for script in scripts:
        path = ROOT / script
        assert path.is_file() and path.stat().st_mode & 0o111, f"{script} is not an executable file"
    assert "-n 0" in quick and "-n | -n*" in (ROOT / "scripts/test.sh").read_text(), "test.sh no longer takes -n from the README"

    # the demo spec, small: fewer rows, one epoch, 4 λ, one training process
    spec = (ROOT / "studies/ecommerce.toml").read_text(encoding="utf-8")
    for key, value in {"rows": "8000", "epochs": "1", "trials": "4", "batch": "4"}.items():
        spec, n = re.subn(rf"^{key} = \S+", f"{key} = {value}", spec, flags=re.M)
        assert n == 1, f"studies/ecommerce.toml has no single '{key} = ' line"
    spec = re.sub(r"^\[training\]$", "[training]\nworkers = 1", spec, flags=re.M)
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies/ecommerce.toml").write_text(spec, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    demo = []
    for line in (ROOT / "scripts/demo.sh").read_text(encoding="utf-8").splitlines():
        if line.startswith('"$PM" '):
            demo.append(shlex.split(line.replace('"$@"', ""))[1:])
    assert [argv[0] for argv in demo] == ["run", "baseline", "plot", "pick", "export", "report"]
    readme = [shlex.split(c)[1:] for c in commands if c.startswith("paretomoo")]
    assert len(readme) >= 4, "the quick start shows what to run after the demo"
    for argv in demo + [argv for argv in readme if argv not in demo]:  # a command the demo ran is not run twice
        # a bound the small study can meet; the metric's name and the rest of the command stay as written
        argv = [re.sub(r"^(\w+)(>=|<=)[\d.]+", r"\g<1>\g<2>0", a) if argv[i - 1] == "--constraint" else a for i, a in enumerate(argv)]
        code, out, err = cli(capsys, argv)
        assert code == 0, f"paretomoo {shlex.join(argv)} exited {code}: {err[-2000:]}"
        assert out.strip(), f"paretomoo {shlex.join(argv)} printed nothing"

    named = set(re.findall(r"`((?:runs|plots|exports)/[^`]+)`", quick))
    assert "runs/ecommerce.db" in named and "plots/ecommerce/report.html" in named, named
    for path in named:
        assert (tmp_path / path).exists(), f"the quick start names {path}, which the demo did not leave"
    for folder, listed in re.findall(r"`((?:plots|exports)/ecommerce/)` — (.*?)(?=\n\* |\n\n)", quick, flags=re.S):
        for name in re.findall(r"`(\w+\.\w+)`", listed):
            assert (tmp_path / folder / name).is_file(), f"the quick start says the demo leaves {folder}{name}"
    # the README's `--trials 64` goes through demo.sh to `paretomoo run`
    assert "--trials" in cli(capsys, ["run", "--help"])[1]


def test_commands_table_names_real_commands_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    table = [row.split("|")[1] for row in section("Commands at a glance").splitlines() if row.startswith("| `paretomoo ")]
    code, top, _ = cli(capsys, ["--help"])
    assert code == 0
    available = set(re.search(r"\{([\w,-]+)\}", top).group(1).split(","))  # type: ignore[union-attr]
    named = {re.search(r"`paretomoo ([\w-]+)", cell).group(1) for cell in table}  # type: ignore[union-attr]
    assert named == available, f"commands table {sorted(named)} against `paretomoo --help` {sorted(available)}"
    # every `paretomoo ...` line anywhere in the README: a real command, flags it accepts
    lines = [cell.strip().strip("`") for cell in table] + [
        c for c in fenced(README.read_text(encoding="utf-8"), "bash") if c.startswith("paretomoo ")
    ]
    for command in lines:
        words = command.split()
        if words[1].startswith("-"):
            continue
        code, help_text, err = cli(capsys, [words[1], "--help"])
        assert code == 0, err
        for flag in flags(command):
            assert flag in help_text, f"`{command}`: `paretomoo {words[1]}` has no {flag}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


def test_relative_links_resolve_and_every_doc_is_linked() -> None:
    pages = [README, *sorted(DOCS.glob("*.md"))]
    assert len(pages) > 10
    for page in pages:
        for target in links(page):
            assert (page.parent / target.split("#")[0]).exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
    linked = {(ROOT / t.split("#")[0]).resolve() for t in links(README)}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"docs/ pages the README does not link: {unlinked}"
    assert (ROOT / "docs/report.png").resolve() in linked, "the README shows the report"
    assert len(README.read_text(encoding="utf-8").splitlines()) < 250, "the README is read to the end: keep it short"
