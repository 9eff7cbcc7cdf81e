"""The HTML report: its sections, tables and offline rules on a hand-made study, then the page in a real browser."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from paretomoo.front import hypervolume_history, pareto_mask, to_min
from paretomoo.report import Baseline, Check, ReportData, StudyFront, check_rows, parallel_data, render_report, scatter_grid, write_report
from paretomoo.report._coordinates import ALL_LINES_MAX, parallel_svg
from paretomoo.report._figures import png, scatter_figure
from tests import _browser
from tests._browser import open_page

SECTIONS = ["summary", "history", "scatter", "parallel", "front", "pick", "baselines"]
DIRECTIONS = ["maximize", "maximize", "minimize", "maximize", "minimize", "maximize"]
TASKS = ["click", "ad_click", "search", "fraud", "churn", "dwell"]


def _values(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Metrics that trade off against each other: each improves with its own task's weight."""
    w = lam / lam.sum(axis=1, keepdims=True)
    waste = rng.exponential(0.25, size=(len(w), 1))  # most trials fall short of the frontier on every task
    good = np.sqrt(w) * (1 - np.minimum(waste, 0.9)) + 0.01 * rng.normal(size=w.shape)  # higher is better
    base = np.array([0.70, 0.60, 1.10, 0.30, 0.50, 0.40])[: w.shape[1]]
    signs = np.array([1.0 if x == "maximize" else -1.0 for x in DIRECTIONS[: w.shape[1]]])
    return base + signs * 0.1 * good


def _history(F: np.ndarray) -> np.ndarray:
    ref = F.max(axis=0) + 0.1 * (np.ptp(F, axis=0) + 1e-9)
    return hypervolume_history(F, ref)


def make_data(
    n: int = 24, m: int = 3, *, baselines: int = 2, studies: int = 0, noise: bool = True, names: list[str] | None = None, seed: int = 0
) -> ReportData:
    """A study of n trials over m objectives (one task per objective), realistic enough to read."""
    rng = np.random.default_rng(seed)
    dirs = DIRECTIONS[:m]
    names = names or [f"{t}_{'auc' if x == 'maximize' else 'logloss'}" for t, x in zip(TASKS, dirs, strict=False)]
    lam = rng.dirichlet(np.ones(m), size=n)
    values = _values(lam, rng)
    F = to_min(values, dirs)
    on_front = pareto_mask(F)
    se = np.abs(0.004 + 0.002 * rng.normal(size=(n, m))) if noise else np.zeros((n, m))
    p_front = np.where(on_front, rng.uniform(0.3, 1.0, n), rng.uniform(0, 0.2, n)) if noise else on_front.astype(np.float64)
    hv = _history(F)
    band = 0.06 * hv if noise else np.zeros(n)
    front_numbers = np.flatnonzero(on_front)
    bases = []
    for b, (method, title) in enumerate(
        [("uw", "Uncertainty weighting (Kendall et al., 2018)"), ("pcgrad", "PCGrad (Yu et al., 2020)")][:baselines]
    ):
        v = _values(np.full((1, m), 1.0 / m), rng)[0] - 0.01 * (b + 1) * np.array([1.0 if x == "maximize" else -1.0 for x in dirs])
        fv = to_min(v[None, :], dirs)[0]
        by = [int(i) for i in front_numbers if np.all(F[i] <= fv) and np.any(F[i] < fv)]
        bases.append(Baseline(method, title, v, v - 0.003, 1.8 + b if b == 0 else float("nan"), by))
    fronts = []
    for k in range(studies):
        vk = _values(rng.dirichlet(np.ones(m), size=n), rng) + 0.01 * k
        fronts.append(
            StudyFront(
                f"study-{k}",
                vk,
                pareto_mask(to_min(vk, dirs)),
                float(0.01 * (k + 1)),
                {f"study-{j}": 0.25 * j for j in range(studies) if j != k},
            )
        )
    chosen = int(front_numbers[0])
    return ReportData(
        title="ecommerce",
        facts=[
            ("data", "synthetic, 60,000 rows (40,000 train / 10,000 val / 10,000 test)"),
            ("model", "shared_bottom, bottom [64, 32], towers [16]; 3 epochs, batch 512"),
            ("budget", f"{n} trials by nsga2 (batch 8)"),
            ("wall time", "0:04:12"),
            ("hypervolume", f"{hv[-1]:.4g} [{0.94 * hv[-1]:.4g}, {1.06 * hv[-1]:.4g}] (90 % of replicates)"),
        ],
        names=names,
        directions=dirs,
        tasks=TASKS[:m],
        numbers=np.arange(n),
        lam=lam,
        values=values,
        test=values - 0.002,
        se=se,
        p_front=p_front,
        on_front=on_front,
        hv_trials=np.arange(n),
        hv_history=hv,
        hv_low=hv - band,
        hv_high=hv + band,
        chosen=chosen,
        pick_lines=[f"picked trial {chosen}: the knee of the front", "stability 0.82", "conflict: the tasks trade off beyond noise"],
        baselines=bases,
        baseline_lines=["the front dominates uw (on the validation means)"] if baselines else [],
        studies=fronts,
    )


class _Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(text: str) -> list[tuple[str, dict[str, str]]]:
    p = _Tags()
    p.feed(text)
    return p.tags


def ids(text: str) -> set[str]:
    return {a["id"] for _, a in tags(text) if "id" in a}


def front_table_rows(text: str) -> int:
    body = re.search(r'<table id="front-table".*?<tbody>(.*?)</tbody>', text, re.S)
    assert body is not None
    return body.group(1).count("<tr")


# ---------------------------------------------------------------- the page, without a browser


@pytest.mark.parametrize("studies", [0, 3])
def test_every_section_is_there_and_compare_only_with_studies(studies: int) -> None:
    text = render_report(make_data(studies=studies))
    found = ids(text)
    assert set(SECTIONS) <= found
    assert ("compare" in found) == bool(studies)
    assert [t for t, a in tags(text) if t == "section"] == ["section"] * (len(SECTIONS) + (1 if studies else 0))


@pytest.mark.parametrize("studies", [0, 2])
def test_nothing_is_fetched_from_the_network(studies: int) -> None:
    text = render_report(make_data(studies=studies))
    for tag, attrs in tags(text):
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("http://", "https://", "//")), f"<{tag} {name}={value[:60]}> fetches from the network"
    assert "default-src 'none'" in text  # and the browser is told to refuse anything that would


def test_every_image_is_an_inline_png() -> None:
    text = render_report(make_data())
    imgs = [a for t, a in tags(text) if t == "img"]
    assert len(imgs) == 2  # the hypervolume history and the scatter matrix
    for a in imgs:
        head, data = a["src"].split(",", 1)
        assert head == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        assert imread(io.BytesIO(raw), format="png").shape[0] > 100


def test_the_front_table_has_one_row_per_front_point_and_marks_the_pick() -> None:
    d = make_data()
    text = render_report(d)
    assert front_table_rows(text) == int(d.on_front.sum()) >= 2
    assert text.count('<tr class="pick">') == 1
    assert f"Picked trial {d.chosen}" in text


def test_text_is_escaped() -> None:
    d = make_data(names=["<b>x", "y&z", "w"])
    d = dataclasses.replace(d, title="<script>alert(1)</script>", facts=[("<i>data</i>", "a < b")], pick_lines=["<img src=x>"])
    text = render_report(d)
    assert "<b>x" not in text and "&lt;b&gt;x" in text
    assert "y&amp;z" in text
    assert "<script>alert(1)" not in text and "<i>data</i>" not in text and "<img src=x>" not in text
    assert "a &lt; b" in text


def test_numbers_have_four_significant_digits() -> None:
    d = make_data()
    d = dataclasses.replace(d, values=d.values.copy())
    d.values[d.on_front.argmax(), 0] = 0.123456789
    text = render_report(d)
    assert "0.1235" in text and "0.123457" not in text


@pytest.mark.parametrize(
    "kw",
    [dict(baselines=0), dict(noise=False), dict(m=2), dict(m=4), dict(m=6), dict(n=1), dict(n=1, m=2, noise=False, baselines=0)],
    ids=["no-baselines", "no-noise", "m2", "m4", "m6", "one-trial", "one-trial-bare"],
)
def test_edge_cases_render(kw: dict) -> None:
    d = make_data(**kw)
    text = render_report(d)
    assert set(SECTIONS) <= ids(text)
    assert front_table_rows(text) == int(d.on_front.sum())
    if not d.baselines:
        assert "No baselines were trained" in text and "paretomoo baseline SPEC --method uw" in text
    if not np.any(d.se > 0):
        assert "±" not in text and "Error bars" not in text
    else:
        assert f"Error bars, on every trial ({len(d.numbers)} of {len(d.numbers)} trials)" in text


def test_missing_numbers_show_as_a_dash() -> None:
    d = make_data(n=12)
    lam, test, se = d.lam.copy(), d.test.copy(), d.se.copy()
    row = int(d.on_front.argmax())
    lam[row, 1], test[row, 0], se[row, 2] = np.nan, np.nan, np.nan
    base = dataclasses.replace(d.baselines[0], test=np.full(3, np.nan))
    text = render_report(
        dataclasses.replace(d, lam=lam, test=test, se=se, on_front=d.on_front.astype(int), baselines=[base, *d.baselines[1:]])
    )
    assert front_table_rows(text) == int(d.on_front.sum())
    assert text.count(">—<") >= 2 + 3  # the λ and test metric of the front row, the baseline's three test metrics
    shown = " ".join(re.findall(r"<table.*?</table>", text, re.S))
    assert "nan" not in shown.lower()


def test_scatter_matrix_holds_every_pair_once() -> None:
    for m in (2, 3, 4, 6):
        pairs = scatter_grid(m)
        assert sorted(pairs) == [(i, j) for i in range(m) for j in range(i + 1, m)]


def test_parallel_data_puts_the_better_end_up() -> None:
    d = make_data(m=3)
    p = parallel_data(d)
    assert p.labels == ["λ click", "λ ad_click", "λ search", *d.names]
    assert p.pos.shape == (len(d.numbers), 6) and np.all((p.pos >= 0) & (p.pos <= 1))
    for k, x in enumerate(d.directions):  # the best trial of each metric is at the top
        best = np.argmax(d.values[:, k]) if x == "maximize" else np.argmin(d.values[:, k])
        assert p.pos[best, 3 + k] == 1.0


def test_bad_shapes_are_refused_with_the_rule() -> None:
    d = make_data()
    with pytest.raises(ValueError, match=r"se must have shape \(24, 3\)"):
        render_report(dataclasses.replace(d, se=np.zeros((24, 2))))
    with pytest.raises(ValueError, match="chosen trial 999"):
        render_report(dataclasses.replace(d, chosen=999))


def test_write_report_creates_the_folder(tmp_path: Path) -> None:
    out = write_report(make_data(n=6), tmp_path / "a" / "b" / "report.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- the page in a real browser

# After the report's own script: drag on a metric axis from level 0.9 down to 0.5 (1 = top), then click it,
# then sort the front table by trial, descending.
DRIVER = """
<script>
(function () {
  var svg = document.getElementById("pc"), axis = document.querySelectorAll("rect.pc-hit")[AXIS];
  var ctm = svg.getScreenCTM(), top = +svg.getAttribute("data-top"), bottom = +svg.getAttribute("data-bottom");
  var box = axis.getBoundingClientRect(), x = box.left + box.width / 2;
  function y(level) { return ctm.d * (bottom - level * (bottom - top)) + ctm.f; }
  function fire(target, type, level) {
    target.dispatchEvent(new MouseEvent(type, { clientX: x, clientY: y(level), bubbles: true, cancelable: true, view: window }));
  }
  fire(axis, "mousedown", 0.9); fire(window, "mousemove", 0.7); fire(window, "mousemove", 0.5); fire(window, "mouseup", 0.5);
  document.body.setAttribute("data-after-brush", svg.getAttribute("data-shown"));
  fire(axis, "mousedown", 0.5); fire(window, "mouseup", 0.5);
  document.body.setAttribute("data-after-click", svg.getAttribute("data-shown"));
  var th = document.querySelector("#front-table th");
  th.click(); th.click();
  document.body.setAttribute("data-first-trial", document.querySelector("#front-table tbody tr td").textContent);
})();
</script>
"""


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m is not None, f"{name} not in the DOM"
    return m.group(1)


def test_a_missing_chromium_fails_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install chromium"):
        _browser.chromium()


def test_a_broken_page_is_caught(tmp_path: Path) -> None:
    """The checks below can fail: console.error, an uncaught exception and a fetched URL are all seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p>x</p><img src="https://example.invalid/a.png">'
        "<script>console.error('broken on purpose');</script><script>notDefined();</script></body></html>"
    )
    got = open_page(page, tmp_path / "browser", screenshot=False)
    assert any("broken on purpose" in c for c in got.console), got.console
    assert any("Uncaught ReferenceError" in c for c in got.console), got.console
    assert "https://example.invalid/a.png" in got.requests


@pytest.mark.parametrize("studies", [0, 3], ids=["study", "compare"])
def test_the_report_in_a_browser(tmp_path: Path, studies: int) -> None:
    d = make_data(n=40, m=4, studies=studies)
    path = write_report(d, tmp_path / "report.html")
    got = open_page(path, tmp_path / "browser")
    assert got.console == []
    assert got.requests == []
    elements = {a["id"]: a for _, a in tags(got.dom) if "id" in a}
    assert set(SECTIONS) <= set(elements) and ("compare" in elements) == bool(studies)
    assert elements["front-table"].get("data-sortable") == "ready"  # the table script ran
    assert elements["baseline-table"].get("data-sortable") == "ready"
    assert elements["pc"].get("data-brush") == "ready"  # the brushing script ran
    assert elements["pc"].get("data-shown") == str(len(d.numbers))
    assert got.screenshot is not None
    img = imread(got.screenshot)[..., :3]
    assert img.shape[:2] == (2000, 1280)
    rgb = (img.reshape(-1, 3) * 255).round().astype(np.int64)
    colours, counts = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_counts=True)
    assert len(colours) > 200, f"the screenshot looks blank: {len(colours)} colours"
    ink = 1 - np.sort(counts)[-2:].sum() / counts.sum()  # neither the page's background nor the margin's
    assert ink > 0.05, f"the screenshot is {ink:.1%} ink"


def test_brushing_and_sorting_respond_to_the_mouse(tmp_path: Path) -> None:
    d = make_data(n=40, m=3)
    text = write_report(d, tmp_path / "report.html").read_text(encoding="utf-8")
    axis = len(d.tasks)  # the first metric axis
    driven = tmp_path / "driven.html"
    driven.write_text(text.replace("</body>", DRIVER.replace("AXIS", str(axis)) + "</body>"), encoding="utf-8")
    got = open_page(driven, tmp_path / "browser", screenshot=False)
    assert got.console == []
    kept = int(_attr(got.dom, "data-after-brush"))
    pos = parallel_data(d).pos[:, axis]
    assert kept == int(np.sum((pos >= 0.5) & (pos <= 0.9))), "the lines kept are those within the dragged range"
    assert 0 < kept < len(d.numbers)
    assert int(_attr(got.dom, "data-after-click")) == len(d.numbers)  # a click clears the axis
    assert int(_attr(got.dom, "data-first-trial")) == int(d.numbers[d.on_front].max())  # sorted by trial, descending


# ---------------------------------------------------------------- a thousand trials, and a conditioned study

# Where the scatter matrix lies on the page, how many lines the parallel coordinates draw, then the same after
# ticking the box that draws the dominated trials.
CROWD_DRIVER = """
<script>
(function () {
  var r = document.querySelector("#scatter img").getBoundingClientRect(), svg = document.getElementById("pc");
  document.body.setAttribute("data-img", [r.left, r.top, r.width, r.height].join(","));
  document.body.setAttribute("data-before", svg.getAttribute("data-shown"));
  document.getElementById("pc-all").click();
  document.body.setAttribute("data-after", svg.getAttribute("data-shown"));
  document.body.setAttribute("data-count", document.getElementById("pc-count").textContent);
})();
</script>
"""
# Share of the pair panels covered by error-bar grey (neutral, darker than a lone light dominated point). The rendering
# before error bars went to few points covered 0.21 of them with 1,034 trials (make_data(1034, 4)); now 0.04.
HAIRBALL = 0.10


def grey_share(screenshot: Path, img: tuple[float, ...], fig: Figure) -> float:
    """The share of the pixels inside the scatter matrix's panels (``fig``'s visible axes, 3 pixels in from their frame)
    that are neutral grey darker than 215 of 255, on a screenshot where the figure's image lies at ``img`` (left, top,
    width, height in CSS pixels)."""
    left, top, width, height = img
    w, h = fig.get_size_inches() * fig.dpi
    shot = imread(screenshot)[..., :3] * 255
    grey, total = 0, 0
    for ax in fig.axes:
        if not ax.axison:
            continue
        b = ax.get_window_extent()
        x0, x1 = int(np.ceil(left + b.x0 * width / w)) + 3, int(left + b.x1 * width / w) - 3
        y0, y1 = int(np.ceil(top + (h - b.y1) * height / h)) + 3, int(top + (h - b.y0) * height / h) - 3
        c = shot[y0:y1, x0:x1]
        assert c.size and y1 <= shot.shape[0], "a panel lies outside the screenshot"
        grey += int(np.sum((np.ptp(c, axis=2) < 20) & (c.mean(axis=2) < 215)))
        total += c.shape[0] * c.shape[1]
    return grey / total


def test_a_thousand_trials_are_no_hairball_in_a_browser(tmp_path: Path) -> None:
    d = make_data(n=1034, m=4)
    front = int(d.on_front.sum())
    text = write_report(d, tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"the {1034 - front} dominated trials are hidden" in text
    assert "Error bars, on the pick only (1 of 1034 trials)" in text  # 343 front points, 261 of them likely: too many
    assert "The front table lists every front point&#x27;s standard errors" in text
    driven = tmp_path / "driven.html"
    driven.write_text(text.replace("</body>", CROWD_DRIVER + "</body>"), encoding="utf-8")
    got = open_page(driven, tmp_path / "browser", size=(1280, 2600))
    assert got.console == [] and got.requests == []
    assert int(_attr(got.dom, "data-before")) == front < 1034  # the front's lines only
    assert int(_attr(got.dom, "data-after")) == 1034  # and every line once the box is ticked
    assert _attr(got.dom, "data-count") == "1034 of 1034 trials shown"
    fig = scatter_figure(d)
    png(fig, "")  # lays the figure out as the page's image was
    assert got.screenshot is not None
    share = grey_share(got.screenshot, tuple(float(x) for x in _attr(got.dom, "data-img").split(",")), fig)
    assert 0 < share < HAIRBALL, f"error bars and the dominated cloud cover {share:.1%} of the pair panels"


def test_parallel_coordinates_draw_the_front_only_beyond_a_few_hundred_trials() -> None:
    small, large = make_data(n=40), make_data(n=ALL_LINES_MAX + 1)
    assert parallel_data(small).dominated_shown and not parallel_data(large).dominated_shown
    assert parallel_data(large, dominated=True).dominated_shown and not parallel_data(small, dominated=False).dominated_shown
    text = parallel_svg(parallel_data(large))
    hidden = ALL_LINES_MAX + 1 - int(large.on_front.sum())
    count = f'<span id="pc-count">{int(large.on_front.sum())} of {ALL_LINES_MAX + 1} trials shown; the {hidden} dominated trials are hidden</span>'
    assert '<svg id="pc" class="pc front-only"' in text and count in text and f"draw the {hidden} dominated trials too" in text
    assert text.count("<polyline") == ALL_LINES_MAX + 1  # all there, to be shown on request
    text = parallel_svg(parallel_data(small))
    assert '<svg id="pc" class="pc"' in text and '<span id="pc-count">40 of 40 trials shown</span>' in text


def test_conditioned_checks_are_a_table() -> None:
    d = make_data(n=8, m=2)
    checks = [
        Check(30, 7, d.names[0], np.array([0.012, -0.003]), np.array([0.01, 0.02])),
        Check(31, 9, None, np.array([0.0, np.nan]), np.zeros(2)),
    ]
    heads, rows = check_rows(dataclasses.replace(d, checks=checks))
    assert [h.label for h in heads] == ["trial", "retrains trial", "point", "objective", "gap", "noise (±)"]
    assert [[c.text for c in r] for r in rows] == [
        ["30", "7", f"{d.names[0]}'s end", d.names[0], "+1.2 %", "1.0 %"],
        ["30", "7", f"{d.names[0]}'s end", d.names[1], "-0.3 %", "2.0 %"],
        ["31", "9", "front point", d.names[0], "+0.0 %", "0.0 %"],
        ["31", "9", "front point", d.names[1], "—", "0.0 %"],
    ]
    text = render_report(dataclasses.replace(d, checks=checks))
    assert "checks" in ids(text) and '<a href="#checks">' in text
    assert "checks" not in ids(render_report(d)) and '<a href="#checks">' not in render_report(d)
    with pytest.raises(ValueError, match=r"check of trial 30 gap must have shape \(2,\)"):
        render_report(dataclasses.replace(d, checks=[dataclasses.replace(checks[0], gap=np.zeros(3))]))


def test_a_conditioned_study_in_a_browser(trained_study: Callable[..., Path], tmp_path: Path, one_torch_thread: None) -> None:
    import paretomoo
    from paretomoo.conditioned import gaps
    from paretomoo.spec import load_spec

    spec = load_spec(trained_study(optimizer="conditioned", trials=2, batch=2, extra="repeats = 2\npoints = 40"))
    study = paretomoo.open_study(spec.name, spec.storage)
    found = gaps(study.summary.records, spec.objectives, spec.directions, spec.tasks)
    assert len(found) == 2
    got = open_page(study.report(tmp_path / "report.html"), tmp_path / "browser", screenshot=False)
    assert got.console == [] and got.requests == []
    elements = {a["id"]: a for _, a in tags(got.dom) if "id" in a}
    assert elements["check-table"].get("data-sortable") == "ready" and '<a href="#checks">Checks</a>' in got.dom
    body = re.search(r'<table id="check-table".*?<tbody>(.*?)</tbody>', got.dom, re.S)
    assert body is not None
    shown = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)]
    want = [
        [
            str(g.exact),
            str(g.point),
            f"{g.end}'s end" if g.end else "front point",
            name,
            f"{100 * g.gap[k]:+.1f} %",
            f"{100 * g.noise[k]:.1f} %",
        ]
        for g in found
        for k, name in enumerate(spec.objectives)
    ]
    assert shown == want
    assert "retrains conditioned trial" not in got.dom  # the checks are no longer a paragraph of the summary
