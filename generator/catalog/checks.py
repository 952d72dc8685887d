"""Checks of a model and its VM sizes against registry facts: one set of rules for render and pre-flight.

Render runs them on the catalog's facts; pre-flight runs the same functions on the facts the live
registry publishes. Each finding names the spec field it is about.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from generator import catalog
from generator.catalog import ModelFacts, SkuSpec, Stage
from generator.diagnostics import ERROR, WARNING

MODEL_FIELD = ("foundation_model", "name")
COMPUTE_FIELD = ("compute", "size")
DEPLOYMENT_FIELD = ("deployment", "instance_type")


@dataclass(frozen=True)
class Finding:
    """One check's verdict: the spec field it concerns, the message, and error or warning."""

    field: tuple[str, ...]
    message: str
    severity: str = ERROR


def alternatives(facts: ModelFacts, today: dt.date) -> str:
    """The live models a user could move to, for messages."""
    task = facts.fine_tuning_tasks[0] if facts.fine_tuning_tasks else "chat-completion"
    live = [m.name for m in catalog.live_models(today, task, facts.registry) if m.name != facts.name]
    return (f"live {task} models in the catalog: {', '.join(live)}" if live
            else f"the catalog lists no live {task} model; run `python -m generator catalog refresh`")


def model_status(facts: ModelFacts, today: dt.date) -> list[Finding]:
    """Retired or archived (error), deprecation announced (warning)."""
    ft, inf = facts.finetune, facts.inference
    if ft.retired(today) or facts.archived:
        what = (f"fine-tuning of {facts.name} was retired on {ft.retirement_date}" if ft.retired(today)
                else f"{facts.name} is archived in registry {facts.registry} (no version is listed)")
        if ft.retired(today) and facts.archived:
            what += " and the model is archived"
        if inf.retired(today):
            what += f"; its inference was retired on {inf.retirement_date}"
        return [Finding(MODEL_FIELD, f"{what}; {alternatives(facts, today)}")]
    findings = []
    if inf.retired(today):
        findings.append(Finding(MODEL_FIELD, f"inference of {facts.name} was retired on {inf.retirement_date}: the "
                                             f"fine-tuned model could not be deployed; {alternatives(facts, today)}"))
    if ft.deprecation_date is not None or ft.retirement_date is not None:
        dates = ", ".join(f"{what} {day}" for what, day in (("deprecated from", ft.deprecation_date),
                                                             ("retires on", ft.retirement_date)) if day)
        findings.append(Finding(MODEL_FIELD, f"fine-tuning of {facts.name} is being retired ({dates}); "
                                             f"{alternatives(facts, today)}", WARNING))
    return findings


def _size_on_stage(stage: Stage, size: str, facts: ModelFacts, what: str, field: tuple[str, ...]) -> list[Finding]:
    if not stage.computes:
        return [Finding(field, f"{facts.name} publishes no {what} size list: {size} is not checked against one",
                        WARNING)]
    minimum = SkuSpec.parse(stage.min_sku_spec)
    known = catalog.vm_size(size)
    short = minimum.shortfalls(known) if minimum is not None and known is not None else []
    below = f"{facts.name}'s {what} minimum ({minimum}): {', '.join(short)}"
    if not stage.allows(size):
        return [Finding(field, f"{size} is not on {facts.name}'s {what} list: {', '.join(stage.computes)}"
                               + (f"; it is also below {below}" if short else ""))]
    if short:
        return [Finding(field, f"{size} is below {below}")]
    return []


def finetune_size(facts: ModelFacts, size: str) -> list[Finding]:
    """`size` is on the model's fine-tune list and meets its minimum spec."""
    return _size_on_stage(facts.finetune, size, facts, "fine-tune", COMPUTE_FIELD)


def inference_size(facts: ModelFacts, size: str) -> list[Finding]:
    """`size` is on the model's inference list and meets its minimum spec."""
    return _size_on_stage(facts.inference, size, facts, "inference", DEPLOYMENT_FIELD)


def retired_size(size: str, today: dt.date, field: tuple[str, ...]) -> list[Finding]:
    """A VM size Azure has retired (and the regions where its notice lets it run longer)."""
    known = catalog.vm_size(size)
    if known is None or not known.is_retired(today):
        return []
    still = known.still_runs_in(today)
    where = f"; it still runs in {'; '.join(still)} only" if still else ""
    return [Finding(field, f"{known.name} was retired on {known.retired}{where} ({known.retirement_source})")]


def announced_retirement(size: str, today: dt.date, field: tuple[str, ...]) -> list[Finding]:
    """A VM size whose retirement is announced for a date still to come (a warning)."""
    known = catalog.vm_size(size)
    if known is None or known.retired is None or known.is_retired(today):
        return []
    return [Finding(field, f"{known.name} is announced for retirement on {known.retired} "
                           f"({known.retirement_source}); plan a move to a current size", WARNING)]


def all_findings(facts: ModelFacts, today: dt.date, compute_size: str, instance_type: str) -> list[Finding]:
    """Every check of a model with its compute and deployment sizes."""
    return (model_status(facts, today) + finetune_size(facts, compute_size) + inference_size(facts, instance_type))
