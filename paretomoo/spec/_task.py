"""Reading one ``[[tasks]]`` table of a spec: its label, loss, metric, direction, groups and row filter."""

from __future__ import annotations

import re

from paretomoo._imports import is_target
from paretomoo.conditions import parse_conditions
from paretomoo.errors import UserError
from paretomoo.metrics import LOSSES, get_metric, metric_names
from paretomoo.spec._sections import OUTPUTS, TaskSpec
from paretomoo.spec._table import REQUIRED, Table

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def parse_task(t: Table, base: str = "") -> TaskSpec:
    name = t.get("name", str, REQUIRED, 'name = "click"')
    where = t.where
    if not _NAME.fullmatch(name):
        raise UserError(f"spec key '{where}.name': {name!r} is not a valid task name; use letters, digits and '_'")
    label = t.get("label", str, name, 'label = "click"')
    loss = t.get("loss", str, "bce", 'loss = "bce"')
    user_loss = is_target(loss)
    if not user_loss and loss not in LOSSES:
        raise UserError(
            f"spec key '{where}.loss': unknown loss {loss!r}; choose one of {', '.join(LOSSES)}, or name your own as \"my_losses:focal\""
        )
    output = t.choice("output", list(OUTPUTS), "logit") if "output" in t.raw else None
    metric_name = t.get("metric", str, REQUIRED, 'metric = "auc"')
    group = t.get("group", str, None, 'group = "query"')
    if is_target(metric_name):
        direction = t.get("direction", str, None, 'direction = "maximize"')
        if direction is None:
            raise UserError(
                f'spec key \'{where}.direction\' is missing: your metric {metric_name!r} needs a direction; write direction = "maximize" or "minimize"'
            )
        if direction not in ("maximize", "minimize"):
            raise UserError(f"spec key '{where}.direction': expected 'maximize' or 'minimize', got {direction!r}")
        grouped = group is not None
        reads = None
    else:
        metric = get_metric(metric_name)
        if metric is None:
            raise UserError(
                f"spec key '{where}.metric': unknown metric {metric_name!r}; choose one of {', '.join(metric_names())} (e.g. ndcg@10), "
                'or name your own as "my_metrics:name"'
            )
        natural = metric.direction
        direction = t.get("direction", str, natural, f'direction = "{natural}"')
        if direction not in ("maximize", "minimize"):
            raise UserError(f"spec key '{where}.direction': expected 'maximize' or 'minimize', got {direction!r}")
        if direction != natural:
            raise UserError(
                f"spec key '{where}.direction': {direction!r} contradicts metric {metric_name!r}, which is {natural}d; remove the key or write direction = \"{natural}\""
            )
        grouped = metric.grouped
        reads = metric
        if metric.grouped and group is None:
            raise UserError(
                f"spec key '{where}.group' is missing: metric {metric_name!r} ranks rows within groups; add e.g. group = \"query\""
            )
    pos_weight = t.positive("pos_weight", float, 1.0, "pos_weight = 5.0")
    if pos_weight != 1.0 and loss != "bce":
        raise UserError(f"spec key '{where}.pos_weight' only applies to loss = \"bce\"; remove it")
    if group is not None and not grouped:
        raise UserError(f"spec key '{where}.group' only applies to ranking metrics (ndcg@K, gauc, recall@K); remove it")
    if reads is not None and not user_loss and not reads.reads(loss):
        fit = [k for k in LOSSES if reads.reads(k)]
        raise UserError(
            f"spec key '{where}.loss': metric {metric_name!r} needs a {reads.labels} label and loss = \"{fit[0]}\", got {loss!r}"
        )
    if output == "probability" and not user_loss and loss != "bce":
        raise UserError(f'spec key \'{where}.output\' = "probability" needs loss = "bce" (a binary label), got {loss!r}')
    if output == "logit" and not user_loss and loss != "bce":
        raise UserError(f'spec key \'{where}.output\' = "logit" needs loss = "bce"; a regression task\'s output is a value')
    if output == "value" and loss == "bce":
        raise UserError(f'spec key \'{where}.output\' = "value" does not fit loss = "bce"; write "logit" or "probability"')
    row_filter = t.get("where", str, None, 'where = "click == 1"')
    if row_filter is not None:
        try:
            parse_conditions(row_filter)
        except ValueError as exc:
            raise UserError(f"spec key '{where}.where': {exc}; write e.g. where = \"click == 1\"") from None
        if group is not None:
            raise UserError(f"spec key '{where}.where' cannot be combined with group (it would cut rows out of groups); remove one")
    t.done()
    return TaskSpec(
        name=name,
        label=label,
        loss=loss,
        metric=metric_name,
        direction=direction,
        pos_weight=pos_weight,
        group=group,
        where=row_filter,
        output=output,
        base=base if user_loss or is_target(metric_name) else "",
    )
