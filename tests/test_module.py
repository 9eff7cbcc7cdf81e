"""Your own ``nn.Module`` as a population (``[model] type = "module"``).

First the module contract, in-process on the ``Trainer``: modules with embedding
tables, BatchNorm, Dropout, LayerNorm, attention over a padded behaviour
sequence and tied weights train in both modes ("vmap", "sequential"); a member
trains as it would alone; a factory that shares a module between members and a
module that ``torch.vmap`` cannot run. Then a study of a user's own file outside
the repository, through the CLI: store, resume, repeats, halving, export and
``load_model``, every bad input of issue 20 item 11, and workers on PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from paretomoo.cli import main
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.models import ModelShape
from paretomoo.models._module import ModulePopulation, build_members
from paretomoo.spec import StudySpec, load_spec
from paretomoo.trainer import MemberResult, Trainer

ROOT = Path(__file__).resolve().parents[1]
MODES = ("vmap", "sequential")

# -- a zoo of user modules, written with no knowledge of populations --------------------------------

VOCAB = 24  # item ids 1..23; 0 pads a behaviour sequence
SEQ = 5  # the last clicked items of a row


def load(rows: int = 1200, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Features ``x [n, 4]``, ``item [n]``, ``hist [n, SEQ]`` (0-padded behaviour sequence) and labels ``a``, ``b`` per split."""
    g = torch.Generator().manual_seed(seed)

    def part(n: int) -> dict[str, torch.Tensor]:
        x = torch.randn(n, 4, generator=g)
        item = torch.randint(1, VOCAB, (n,), generator=g)
        length = torch.randint(1, SEQ + 1, (n,), generator=g)
        hist = torch.randint(1, VOCAB, (n, SEQ), generator=g)
        hist = torch.where(torch.arange(SEQ) < length[:, None], hist, torch.zeros_like(hist))
        a = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 0).float()
        b = (x[:, 1] - x[:, 0] + (item % 3 == 0).float() + 0.5 * torch.randn(n, generator=g) > 0.5).float()
        return {"x": x, "item": item, "hist": hist, "a": a, "b": b}

    return {"train": part(rows), "val": part(rows // 2), "test": part(rows // 2)}


class Zoo(nn.Module):
    """An embedding table and a bottom MLP, with optional BatchNorm, LayerNorm, Dropout, attention of the item over the
    padded history (``nn.MultiheadAttention`` with ``key_padding_mask``) and a table tied to the item table."""

    def __init__(
        self,
        tasks: list[str],
        vocab: int,
        bn: bool = False,
        ln: bool = False,
        dropout: float = 0.0,
        attention: bool = False,
        tie: bool = False,
        item_call: bool = False,
    ) -> None:
        super().__init__()
        dim, hidden = 8, 16
        self.tasks, self.item_call = list(tasks), item_call
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.attention = nn.MultiheadAttention(dim, 2, batch_first=True) if attention else None
        if attention:  # positions of the history: a buffer the state_dict leaves out
            self.register_buffer("positions", torch.arange(SEQ), persistent=False)
            self.position = nn.Embedding(SEQ, dim)
        self.history = None
        if tie:  # the history's table is the item's table: two modules, one parameter
            self.history = nn.Embedding(vocab, dim, padding_idx=0)
            self.history.weight = self.emb.weight
        # no bias before BatchNorm, as usual: it would cancel in the normalisation (a parameter without gradient)
        layers: list[nn.Module] = [nn.Linear(4 + dim * (1 + attention + tie), hidden, bias=not bn)]
        layers += [nn.BatchNorm1d(hidden)] if bn else []
        layers += [nn.LayerNorm(hidden)] if ln else []
        layers += [nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout else []
        self.bottom = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, 1) for t in self.tasks})

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        e = self.emb(batch["item"])
        parts = [batch["x"], e]
        if self.attention is not None:
            h = self.emb(batch["hist"]) + self.position(self.positions)
            out, _ = self.attention(e.unsqueeze(1), h, h, key_padding_mask=batch["hist"] == 0, need_weights=False)
            parts.append(out.squeeze(1))
        if self.history is not None:
            parts.append(self.history(batch["hist"]).mean(1))
        z = self.bottom(torch.cat(parts, -1))
        scores = {t: self.heads[t](z).squeeze(-1) for t in self.tasks}
        if self.item_call and float(scores[self.tasks[0]].abs().max().item()) > 1e6:  # data-dependent Python control flow
            scores = {t: s.clamp(-1e6, 1e6) for t, s in scores.items()}
        return scores


def build_zoo(tasks: list[str], shape: ModelShape, **options: object) -> Zoo:
    return Zoo(tasks, shape.vocabulary("item"), **options)  # type: ignore[arg-type]


_CACHE: dict[str, nn.Module] = {}


def build_cached(tasks: list[str], shape: ModelShape) -> Zoo:
    """A factory whose feature object keeps one embedding table across calls: every member would share it."""
    model = Zoo(tasks, shape.vocabulary("item"))
    model.emb = _CACHE.setdefault("item", nn.Embedding(shape.vocabulary("item"), 8, padding_idx=0))
    return model


ZOO_SPEC = """
[study]
name = "zoo"
storage = "sqlite:///{root}/zoo.db"
[data]
source = "python"
loader = "tests.test_module:load"
[[tasks]]
name = "a"
metric = "auc"
[[tasks]]
name = "b"
metric = "auc"
[model]
type = "module"
factory = "tests.test_module:build_zoo"
[training]
epochs = 1
batch_size = 200
lr = 0.01
device = "cpu"
"""

# one member kind per module feature; "plain" is the embedding table and MLP alone
FEATURES: dict[str, tuple[tuple[str, object], ...]] = {
    "plain": (),
    "batchnorm": (("bn", True),),
    "layernorm": (("ln", True),),
    "dropout": (("dropout", 0.3),),
    "attention": (("attention", True),),
    "tied": (("tie", True),),
}
# no Dropout (its masks depend on the population) and no parameter without gradient: a constant shift ahead of
# BatchNorm (the normalisation cancels it) or an attention key's bias (softmax ignores a shift common to all keys) has a
# gradient of rounding noise only, which AdamW turns into steps of ±lr, so any last-bit difference between two ways of
# training it moves the weights by ~lr and the metrics by ~1e-3 (measured); the models here cannot tell such ways apart
DETERMINISTIC = (("bn", True), ("ln", True), ("tie", True))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> tuple[StudySpec, object]:
    root = tmp_path_factory.mktemp("zoo")
    (root / "zoo.toml").write_text(ZOO_SPEC.format(root=root))
    spec = load_spec(root / "zoo.toml")
    return spec, load_data(spec.data)


def zoo_trainer(zoo, options: tuple[tuple[str, object], ...] = (), mode: str = "auto", factory: str = "") -> Trainer:
    spec, data = zoo
    model = {"options": options, "population": mode, **({"factory": factory} if factory else {})}
    return Trainer(spec.replace(model=model), data, "cpu")


LAM = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])


def all_finite(r: MemberResult) -> bool:
    return r.failed is None and all(math.isfinite(v) for split in (r.val, r.test) for ms in split.values() for v in ms.values())


def max_metric_diff(a: MemberResult, b: MemberResult) -> float:
    return max(abs(x[t][m] - y[t][m]) for x, y in ((a.val, b.val), (a.test, b.test)) for t in x for m in x[t])


def max_weight_diff(a: MemberResult, b: MemberResult) -> float:
    assert a.state is not None and b.state is not None and a.state.keys() == b.state.keys()
    return max(float((a.state[n].double() - b.state[n].double()).abs().max()) for n in a.state)


# -- the module contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("feature", list(FEATURES))
def test_every_kind_of_module_trains_in_both_modes(zoo, feature: str, mode: str, one_torch_thread) -> None:
    trainer = zoo_trainer(zoo, FEATURES[feature], mode)
    start = build_members(trainer.spec.model, trainer.shape, [trainer.spec.training.seed])[0].state_dict()
    results = trainer.fit(LAM[:2])
    assert [r.population for r in results] == [mode, mode] and [r.members for r in results] == [2, 2]
    assert all(all_finite(r) for r in results), [r.failed for r in results]
    # trained: every member moved away from the factory's initial weights, and the two λ ended apart
    pop = ModulePopulation(trainer.shape, trainer.spec.model, [0])
    for r in results:
        assert r.state is not None
        own = pop.user_state(r.state)
        assert max(float((own[n] - start[n]).abs().max()) for n in own if own[n].is_floating_point()) > 1e-3
    assert results[0].val["a"]["auc"] != results[1].val["a"]["auc"]


@pytest.mark.parametrize("feature", [f for f in FEATURES if f != "dropout"])
def test_both_modes_compute_the_same_step(zoo, feature: str, one_torch_thread) -> None:
    """One forward and backward pass from the same weights: the same scores, gradients and running statistics in
    both modes (up to float32 rounding: vmap batches the members' matrix products into other kernels)."""
    trainer = zoo_trainer(zoo, FEATURES[feature])
    members = build_members(trainer.spec.model, trainer.shape, [0, 1])
    batch = trainer.train.rows(0, 200)
    runs = {}
    for mode in MODES:
        pop = ModulePopulation(trainer.shape, trainer.spec.model, [0, 1], members=copy.deepcopy(members))
        pop.mode = mode
        scores = pop(batch)
        assert scores.shape == (2, 200, 2)
        (scores**2).sum().backward()
        runs[mode] = (scores.detach(), {n: p.grad for n, p in pop.named_parameters()}, dict(pop.named_buffers()))
    (sv, gv, bv), (ss, gs, bs) = runs["vmap"], runs["sequential"]
    torch.testing.assert_close(sv, ss, rtol=1e-5, atol=1e-5)
    for n in gv:
        torch.testing.assert_close(gv[n], gs[n], rtol=1e-4, atol=1e-4, msg=n)
    for n in bv:
        torch.testing.assert_close(bv[n], bs[n], rtol=1e-6, atol=1e-6, msg=n)
    assert bool((sv[0] != sv[1]).any())  # two seeds, two members


@pytest.mark.parametrize("mode", MODES)
def test_member_k_trains_as_it_would_alone(zoo, mode: str, one_torch_thread) -> None:
    """Held to 1e-5 on every metric and weight. Not bit for bit: under vmap BatchNorm's backward pass reduces over the
    members' stacked channels, and a member whose channels fall past the kernel's last full vector rounds its gradient
    differently (measured with a BatchNorm module: 5e-10 on metrics, 3e-8 on weights, for the third member of three;
    sequential: 0)."""
    trainer = zoo_trainer(zoo, DETERMINISTIC, mode)
    population = trainer.fit(LAM)
    for k in (0, 2):
        alone = trainer.fit(LAM[k : k + 1])[0]
        assert max_metric_diff(population[k], alone) <= 1e-5
        assert max_weight_diff(population[k], alone) <= 1e-5


def test_vmap_and_sequential_train_the_same_models(zoo, one_torch_thread) -> None:
    """Metrics and weights agree within 1e-5 (measured: 2e-9 on metrics), but for the attention keys' bias, which has
    no gradient (see DETERMINISTIC) and so is not determined by the data: it is left out of the weights compared."""
    options = (("attention", True), ("ln", True), ("tie", True))
    vmap = zoo_trainer(zoo, options, "vmap").fit(LAM)
    sequential = zoo_trainer(zoo, options, "sequential").fit(LAM)
    dim = 8
    for v, s in zip(vmap, sequential, strict=True):
        assert v.state is not None and s.state is not None
        assert max_metric_diff(v, s) <= 1e-5
        for n in v.state:
            a, b = v.state[n], s.state[n]
            if n == "stacked.attention__in_proj_bias":  # query, key and value biases: leave the keys' out
                a, b = torch.cat([a[:, :dim], a[:, 2 * dim :]], 1), torch.cat([b[:, :dim], b[:, 2 * dim :]], 1)
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=n)


@pytest.mark.parametrize("mode", MODES)
def test_batchnorm_keeps_running_statistics_per_member(zoo, mode: str, one_torch_thread) -> None:
    trainer = zoo_trainer(zoo, (("bn", True),), mode)
    results = trainer.fit(LAM[:2])
    names = [n for n in results[0].state or {} if "running_mean" in n or "running_var" in n or "num_batches" in n]
    assert len(names) == 3
    start = build_members(trainer.spec.model, trainer.shape, [0])[0].bottom[1]
    mean = [r.state[n] for r in results for n in names if "running_mean" in n]  # type: ignore[index]
    assert not torch.equal(mean[0], mean[1])  # each member's own statistics, not one shared
    assert all(not torch.allclose(m[0], start.running_mean) for m in mean)  # updated by training
    tracked = [r.state[n] for r in results for n in names if "num_batches" in n]  # type: ignore[index]
    assert [int(t) for t in tracked] == [len(range(0, 1200, 200))] * 2  # one update per training batch, not per mode check
    alone = trainer.fit(LAM[1:2])[0]
    for n in names:
        torch.testing.assert_close(alone.state[n], results[1].state[n], rtol=0, atol=1e-6)  # type: ignore[index]


@pytest.mark.parametrize("mode", MODES)
def test_dropout_draws_independent_masks_per_member(zoo, mode: str) -> None:
    trainer = zoo_trainer(zoo, (("dropout", 0.5),))
    same = build_members(trainer.spec.model, trainer.shape, [0, 0])  # identical weights
    pop = ModulePopulation(trainer.shape, trainer.spec.model, [0, 0], members=same)
    pop.mode = mode
    batch = trainer.train.rows(0, 200)
    torch.manual_seed(0)
    scores = pop.train()(batch)
    assert not torch.equal(scores[0], scores[1])  # each member its own mask
    again = pop(batch)
    assert not torch.equal(scores[0], again[0])  # and a new one each pass
    with torch.no_grad():
        evaluated = pop.eval()(batch)
    assert torch.equal(evaluated[0], evaluated[1])  # no dropout in eval mode: the same weights score alike


@pytest.mark.parametrize("mode", MODES)
def test_tied_weights_stay_tied(zoo, mode: str, one_torch_thread) -> None:
    trainer = zoo_trainer(zoo, (("tie", True), ("attention", True)), mode)
    r = trainer.fit(LAM[:2])[0]
    assert r.state is not None
    assert "stacked.emb__weight" in r.state and not any("history" in n for n in r.state)  # one tensor for both names
    pop = ModulePopulation(trainer.shape, trainer.spec.model, [0])
    # the user's own state_dict: the tied weight under both its names, the non-persistent buffer left out
    own = pop.user_state(r.state)
    fresh = Zoo(["a", "b"], VOCAB, tie=True, attention=True)
    assert list(own) == list(fresh.state_dict()) and "history.weight" in own and "positions" not in own
    fresh.load_state_dict(own)  # strict: the user's class takes it as it is
    assert fresh.history is not None and fresh.history.weight is fresh.emb.weight
    module = pop.user_module(r.state)
    assert isinstance(module, Zoo) and module.history is not None and not module.training
    assert module.history.weight is module.emb.weight
    assert torch.equal(module.emb.weight, r.state["stacked.emb__weight"][0])


def test_a_factory_that_caches_a_module_across_calls_is_a_one_line_error(zoo) -> None:
    trainer = zoo_trainer(zoo, factory="tests.test_module:build_cached")
    with pytest.raises(UserError) as info:
        trainer.fit(LAM[:2])
    text = str(info.value)
    assert "\n" not in text
    assert "'tests.test_module:build_cached' returned members that share 'emb.weight'" in text and "do not cache a module" in text


def test_auto_runs_a_module_that_vmap_cannot_run_one_member_after_another(zoo, one_torch_thread) -> None:
    trainer = zoo_trainer(zoo, (("item_call", True),), "auto")
    results = trainer.fit(LAM[:2])
    assert all(all_finite(r) and r.population == "sequential" for r in results)
    mode, why = trainer.population_mode[2]
    assert mode == "sequential"
    assert why.startswith("torch.vmap cannot run this module (RuntimeError: vmap: It looks like you're calling .item()")
    assert why.endswith("its members train one after another") and "\n" not in why
    # the same λ as a plain module's: the .item() branch is never taken, so sequential trains what vmap would
    plain = zoo_trainer(zoo, (), "vmap").fit(LAM[:2])
    assert all(max_metric_diff(a, b) <= 1e-5 for a, b in zip(results, plain, strict=True))


def test_population_vmap_for_a_module_vmap_cannot_run_is_a_one_line_error(zoo) -> None:
    trainer = zoo_trainer(zoo, (("item_call", True),), "vmap")
    with pytest.raises(UserError) as info:
        trainer.fit(LAM[:2])
    text = str(info.value)
    assert "\n" not in text and "failed on the first batch: RuntimeError: vmap:" in text and ".item()" in text
    assert text.endswith('set [model] population = "sequential" or "auto"')


def test_the_memory_estimate_runs_a_module_that_vmap_cannot_run(zoo) -> None:
    """``member_bytes`` sizes the population on a GPU (population = "auto"): it must not need vmap."""
    trainer = zoo_trainer(zoo, (("item_call", True),), "auto")
    assert trainer.member_bytes() > 0


# -- a study of a user's own file, outside the repository, through the CLI ------------------------------

# What a new user writes beside their spec: a loader, a module (dict inputs, an embedding table, a second table tied to
# it, BatchNorm, sigmoid outputs), a focal loss and a metric. OWN_MODEL_BREAK makes one piece misbehave, as an edit of
# this file would, while the spec (and so the stored study) stays the same.
USER_FILE = """
import os

import torch
from torch import nn


def load(rows=1500, seed=0):
    broken = os.environ.get("OWN_MODEL_BREAK", "")
    g = torch.Generator().manual_seed(seed)

    def part(n):
        x = torch.randn(n, 4, generator=g)
        item = torch.randint(0, 20, (n,), generator=g)
        click = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 0).float()
        buy = (x[:, 1] + 0.5 * torch.randn(n, generator=g) > 0).float()
        out = {"x": x, "item": item, "click": click, "buy": torch.where(click > 0, buy, torch.tensor(float("nan")))}
        if broken == "no_label":
            del out["buy"]
        if broken == "types":
            out["x"] = [["a"] * 4] * n
        return out

    return {"train": part(rows), "val": part(rows // 2), "test": part(rows // 2)}


class Ranker(nn.Module):
    def __init__(self, tasks, vocab, dim=4, hidden=16, broken=""):
        super().__init__()
        self.tasks, self.broken = list(tasks), broken
        self.item = nn.Embedding(vocab, dim)
        self.query = nn.Embedding(vocab, dim)
        self.query.weight = self.item.weight
        self.bottom = nn.Sequential(nn.Linear(4 + dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, 1) for t in self.tasks})

    def forward(self, batch):
        e = self.item(batch["item"]) + 0.5 * self.query(batch["item"])
        h = self.bottom(torch.cat([batch["x"], e], -1))
        out = {t: torch.sigmoid(self.heads[t](h)).squeeze(-1) for t in self.tasks}
        if self.broken == "keys":
            return {"ctr": out[self.tasks[0]]}
        if self.broken == "shape":
            return torch.stack(list(out.values()) * 2, -1)
        if self.broken == "nan":
            return {t: v * float("nan") for t, v in out.items()}
        return out


def build(tasks, shape, hidden=16):
    broken = os.environ.get("OWN_MODEL_BREAK", "")
    if broken == "raises":
        raise ValueError("hidden must be a power of two")
    if broken == "not_module":
        return {"model": "oops"}
    return Ranker(tasks, shape.vocabulary("item"), hidden=hidden, broken=broken)


def focal(scores, labels, gamma=2.0):
    p = scores.clamp(1e-6, 1 - 1e-6)
    pt = torch.where(labels > 0.5, p, 1 - p)
    per_row = -((1 - pt) ** gamma) * torch.log(pt)
    return per_row.mean() if os.environ.get("OWN_MODEL_BREAK") == "scalar_loss" else per_row


def accuracy(scores, labels):
    broken = os.environ.get("OWN_MODEL_BREAK")
    if broken == "metric_raises":
        raise KeyError("threshold")
    correct = ((scores > 0.5).float() == labels).float()
    return correct.tolist() if broken == "metric_list" else float(correct.mean())
"""

USER_SPEC = """
[study]
name = "{name}"
storage = "sqlite:///{root}/runs/own.db"

[data]
source = "python"
loader = "{file}:load"

[[tasks]]
name = "click"
metric = "{file}:accuracy"
direction = "maximize"
output = "probability"

[[tasks]]
name = "buy"
loss = "{file}:focal"
metric = "auc"
output = "probability"

[model]
type = "module"
factory = "{file}:build"
options = {{ hidden = 16 }}
population = "{population}"

[training]
epochs = {epochs}
batch_size = 250
lr = 0.01
device = "cpu"
population = 4
workers = 1

[search]
trials = 4
batch = 4
{search}
"""


def user_spec(
    root: Path, name: str = "own", file: str = "own_model.py", population: str = "auto", epochs: int = 1, search: str = ""
) -> Path:
    """The user's spec in ``root`` beside their file (written once)."""
    if not (root / "own_model.py").exists():
        (root / "own_model.py").write_text(USER_FILE)
    path = root / f"{name}.toml"
    path.write_text(USER_SPEC.format(root=root, name=name, file=file, population=population, epochs=epochs, search=search))
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    """``paretomoo ARGV`` in this process: exit code, stdout, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def own(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """The user's study: 4 trials, then resumed to 8. Yields its spec and the second run's stdout."""
    root = tmp_path_factory.mktemp("user")  # outside the repository
    path = user_spec(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small kernels: one thread is fastest, and does not stall on busy cores
    try:
        first = cli("run", str(path))
        assert first[0] == 0, first[2]
        second = cli("run", str(path), "--trials", "8")
        assert second[0] == 0, second[2]
    finally:
        torch.set_num_threads(threads)
    assert "0/4 trials stored" in first[1] and "4/8 trials stored" in second[1]
    yield path, first[1]


def stored(spec: Path) -> list[tuple[object, ...]]:
    """Everything a run could touch in the study's storage: every study, its trials (state, values, λ, run) and files."""
    url = load_spec(spec).storage
    out: list[tuple[object, ...]] = []
    for s in optuna.get_all_study_summaries(url):
        study = optuna.load_study(study_name=s.study_name, storage=url)
        out.append((s.study_name, sorted(study.user_attrs)))
        out += [(t.number, t.state, t.values, json.dumps(t.user_attrs, sort_keys=True)) for t in study.get_trials()]
    files = sorted(str(p.relative_to(spec.parent)) for p in spec.parent.rglob("*") if p.is_file() and "runs" in p.parts)
    return [*out, tuple(files)]


def test_a_users_study_runs_resumes_and_records_how_its_members_ran(own) -> None:
    path, first_out = own
    code, out, _ = cli("status", str(path), "--json")
    trials = json.loads(out)
    assert code == 0 and len(trials) == 8 and {t["state"] for t in trials} == {"complete"}
    runs = [t["run"] for t in trials]
    assert {r["members"] for r in runs} == {4} and len({r["population"] for r in runs}) == 1
    mode = runs[0]["population"]
    assert mode in MODES
    assert f"members: {mode}, 4 at a time (" in first_out  # run said which it chose, and why
    # the user's metric and the NaN-masked task: finite numbers on every trial
    for t in trials:
        assert 0.5 < t["val"]["click"]["own_model.py:accuracy"] <= 1 and 0 < t["val"]["buy"]["auc"] < 1
        assert set(t["val"]) == {"click", "buy"} and set(t["val"]["click"]) == {"own_model.py:accuracy"}


def test_export_and_load_model_give_back_the_users_class(own, tmp_path) -> None:
    path, _ = own
    code, out, err = cli("export", str(path), "--trial", "5", "--out", str(tmp_path / "exp"))
    assert code == 0, err
    assert "verified: re-measured validation metrics match the stored ones" in out
    import paretomoo

    model = paretomoo.load_model(tmp_path / "exp")
    assert type(model).__name__ == "Ranker" and Path(sys.modules[type(model).__module__].__file__ or "") == path.parent / "own_model.py"
    assert not model.training and model.query.weight is model.item.weight  # tied, as the class ties them
    # its scores, computed here as the user would, reproduce the stored validation metrics
    module = sys.modules[type(model).__module__]
    val = module.load()["val"]
    with torch.no_grad():
        scores = model({"x": val["x"], "item": val["item"]})
    metrics = json.loads((tmp_path / "exp" / "metrics.json").read_text())["model_val"]
    assert module.accuracy(scores["click"], val["click"]) == pytest.approx(metrics["click"]["own_model.py:accuracy"], abs=1e-9)
    from paretomoo.metrics import get_metric

    auc = get_metric("auc")
    assert auc is not None
    measured = ~torch.isnan(val["buy"])
    buy = auc.compute(torch.logit(scores["buy"][measured].clamp(1e-7, 1 - 1e-7)), val["buy"][measured], None)
    assert buy == pytest.approx(metrics["buy"]["auc"], abs=1e-9)


# -- bad input: one line, exit 2, no traceback, nothing stored touched ------------------------------------


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretomoo: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("broken", "needle"),
    [
        ("raises", "model.factory 'own_model.py:build' raised ValueError: hidden must be a power of two"),
        ("not_module", "model.factory 'own_model.py:build' returned dict, not a torch.nn.Module; return the model instance"),
        ("keys", "the model of 'own_model.py:build' returned a mapping with keys ['ctr'], without ['click', 'buy']"),
        ("shape", "the model of 'own_model.py:build' returned a tensor of shape (250, 4); return [batch, 2]"),
        ("nan", "the model of 'own_model.py:build' returned NaN/inf scores on the first batch"),
        ("types", "data.loader 'own_model.py:load', split 'train', entry 'x' is list, not a tensor"),
        ("no_label", "data.loader 'own_model.py:load', split 'train': no entry 'buy' (a task's label or where column)"),
        ("scalar_loss", "tasks.buy.loss 'own_model.py:focal' returned a scalar for 250 rows; return one loss per row"),
        ("metric_raises", "tasks.click.metric 'own_model.py:accuracy' raised KeyError: 'threshold'"),
        ("metric_list", "tasks.click.metric own_model.py:accuracy: returned list ["),
    ],
)
def test_users_code_gone_wrong_is_a_one_line_error_and_the_study_is_untouched(
    own, monkeypatch, broken: str, needle: str, one_torch_thread
) -> None:
    path, _ = own
    before = stored(path)
    monkeypatch.setenv("OWN_MODEL_BREAK", broken)
    line = one_line_error(*cli("run", str(path), "--trials", "12"))
    assert needle in line
    assert stored(path) == before


@pytest.mark.parametrize(
    ("factory", "needle"),
    [
        ("own_modle:build", "model.factory: no module named 'own_modle' for 'own_modle:build'; searched sys.path ["),
        ("own_model.py:buidl", "model.factory: module 'own_model.py' has no attribute 'buidl' (from 'own_model.py:buidl')"),
        ("models/own.py:build", "model.factory: file '{root}/models/own.py' of 'models/own.py:build' does not exist"),
    ],
)
def test_a_factory_path_that_does_not_import_stores_nothing(own, factory: str, needle: str, one_torch_thread) -> None:
    """A new study: nothing is created, so the fixed spec runs under the same name (a stored study would refuse it)."""
    path, _ = own
    before = stored(path)
    bad = path.parent / "typo.toml"
    bad.write_text(
        path.read_text().replace('name = "own"', 'name = "typo"').replace('factory = "own_model.py:build"', f'factory = "{factory}"')
    )
    line = one_line_error(*cli("run", str(bad)))
    assert needle.format(root=path.parent) in line
    assert stored(path) == before


def test_a_user_metric_without_direction_is_a_one_line_error(own) -> None:
    path, _ = own
    before = stored(path)
    bad = path.parent / "no_direction.toml"
    bad.write_text(path.read_text().replace('direction = "maximize"\n', ""))
    line = one_line_error(*cli("run", str(bad), "--trials", "12"))
    assert "spec key 'tasks[0].direction' is missing: your metric 'own_model.py:accuracy' needs a direction" in line
    assert stored(path) == before


# -- repeats, halving, workers on a user's study -----------------------------------------------------------


def test_repeats_train_every_seed_as_it_would_alone_and_export_by_module_path(own, tmp_path, one_torch_thread) -> None:
    """repeats = 2, the user's file named as a module ("own_model:build"): each λ trains under seeds 0 and 1 in one
    population; seed 1's metrics are those of that λ trained alone under seed 1; the export loads as the user's class."""
    path, _ = own
    spec_path = user_spec(path.parent, name="repeats", file="own_model", population="sequential", search="repeats = 2")
    code, _, err = cli("run", str(spec_path))
    assert code == 0, err
    spec = load_spec(spec_path)
    study = optuna.load_study(study_name="repeats", storage=spec.storage)
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.user_attrs["run"]["seeds"] == [0, 1] for t in trials)
    assert all(t.user_attrs["run"]["population"] == "sequential" and t.user_attrs["run"]["members"] == 4 for t in trials)
    lam = np.array([[t.user_attrs["lambda"][n] for n in spec.task_names] for t in trials[:2]])
    alone = Trainer(spec, load_data(spec.data), "cpu").fit(lam, seeds=[1, 1])
    for t, a in zip(trials, alone, strict=False):
        by_seed = t.user_attrs["by_seed"]["1"]["val"]
        assert max(abs(by_seed[task][m] - a.val[task][m]) for task in a.val for m in a.val[task]) <= 1e-5
    code, out, err = cli("export", str(spec_path), "--trial", "1", "--out", str(tmp_path / "exp"))
    assert code == 0, err
    assert "verified: re-measured validation metrics match the stored ones" in out
    import paretomoo

    model = paretomoo.load_model(tmp_path / "exp")
    assert type(model).__module__ == "own_model" and type(model).__name__ == "Ranker"
    assert sys.modules["own_model"].__file__ == str(path.parent / "own_model.py")


def test_halving_goes_on_from_checkpoints_with_batchnorm_statistics(tmp_path, one_torch_thread) -> None:
    """fidelity = "epochs", eta 2, 2 epochs: 4 λ train 1 epoch, 2 go on from their checkpoints (weights, AdamW's
    moments, the stacked BatchNorm statistics) to 2; each ends where an uninterrupted 2-epoch training ends. vmap: the
    members' buffers are batched tensors there, updated in place."""
    from paretomoo.study import run_study

    spec = load_spec(user_spec(tmp_path, name="halving", population="vmap", epochs=2, search='fidelity = "epochs"\neta = 2'))
    store = run_study(spec)
    complete = [r for r in store.records() if r.state == "complete"]
    assert len(complete) == 2 and all(r.continues is not None for r in complete)
    lam = np.array([[r.lam[t] for t in spec.task_names] for r in complete])
    direct = Trainer(spec, load_data(spec.data), "cpu").fit(lam)
    for r, d in zip(complete, direct, strict=True):
        assert d.state is not None
        weights = store.weights.load(r.number)
        assert any("running_mean" in n for n in weights)
        for n in d.state:
            torch.testing.assert_close(weights[n], d.state[n], rtol=0, atol=1e-6, msg=n)
        assert max(abs(r.val[t][m] - d.val[t][m]) for t in d.val for m in d.val[t]) <= 1e-6


def test_two_workers_on_postgres_train_a_users_module(tmp_path, pg_storage, monkeypatch, one_torch_thread) -> None:
    """A worker process imports the user's file by the spec's import path (the spec's folder first on sys.path) and
    trains on the study beside a second worker (this process, joining once the other has finished a trial)."""
    import time

    from paretomoo.store import Store

    spec_path = user_spec(tmp_path, name="tiny", file="own_model", population="sequential")  # no timing of both modes
    text = spec_path.read_text().replace("batch = 4", "batch = 2").replace("population = 4", "population = 2")
    spec_path.write_text(text)
    monkeypatch.chdir(tmp_path)  # the weights of a study on PostgreSQL go to runs/ under the first worker's folder
    env = {k: v for k, v in os.environ.items() if k != "OWN_MODEL_BREAK"}
    cmd = [sys.executable, "-m", "paretomoo.cli", "worker", str(spec_path), "--storage", pg_storage, "--quiet", "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not _complete(pg_storage) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert cli("worker", str(spec_path), "--storage", pg_storage, "--quiet")[0] == 0
        assert proc.wait(timeout=180) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store.open("tiny", pg_storage)
    trials = optuna.load_study(study_name="tiny", storage=pg_storage).get_trials()
    assert store.n_finished() == 4 and len(trials) == 4 and {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    assert len({tuple(t.user_attrs["lambda"].values()) for t in trials}) == 4
    assert all(t.user_attrs["run"]["population"] == "sequential" and t.user_attrs["run"]["members"] == 2 for t in trials)
    assert proc.pid in {t.user_attrs["worker"]["pid"] for t in trials}


def _complete(url: str) -> bool:
    try:
        study = optuna.load_study(study_name="tiny", storage=url)
    except KeyError:  # not created yet
        return False
    return bool(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
