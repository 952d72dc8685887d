"""Blue/green rollout on the workspace: the new deployment (green) is smoke-tested through the
azureml-model-deployment header, mirrored, given the live shares of rollout.traffic_steps, and finally all traffic;
the previous deployment (blue: the one serving most live traffic) is then deleted or kept at 0 %.

Every stage is gated by the smoke test against green through the header (such a request goes only to green and
is not mirrored: MicrosoftDocs/azure-ai-docs how-to-safely-rollout-online-endpoints.md @96b17518). The first failed
stage rolls back: live traffic returns to blue, mirroring is turned off, and apply exits non-zero saying what
happened. The stage reached is read from the endpoint itself, so a re-apply goes on from there (after a rollback,
from the start, without training again: the job and the model are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.serving import PREVIOUS_TAG
from generator.runner.steps.common import Context, not_found, wait_poller
from generator.runner.steps.traffic import invoke

HEADER = "azureml-model-deployment"


def _shares(mapping: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (mapping or {}).items()}


@dataclass(frozen=True)
class Position:
    """Where the endpoint stands: its live and mirrored shares, the previous deployment, green's live share."""

    live: dict[str, int]
    mirror: dict[str, int]
    blue: str | None
    green_share: int

    @classmethod
    def read(cls, endpoint: Any, green: str) -> Position:
        """The position of `endpoint` (None: it does not exist yet) for the green deployment `green`."""
        live = _shares(getattr(endpoint, "traffic", None))
        mirror = {k: v for k, v in _shares(getattr(endpoint, "mirror_traffic", None)).items() if v}
        others = {k: v for k, v in live.items() if k != green and v > 0}
        blue = max(sorted(others), key=others.__getitem__) if others else None
        return cls(live, mirror, blue, live.get(green, 0))


def remaining(res: Resource, position: Position) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """The stages still to run: (name, live traffic after it, mirror traffic after it); each is followed by the
    smoke test through the header. Empty when green already serves everything and blue is gone or at 0."""
    green, blue = res.extra["deployment"], position.blue
    mirror_share, steps = int(res.extra["mirror_percent"]), [int(s) for s in res.extra["traffic_steps"]]
    if blue is None:
        if position.green_share == 100 and not position.mirror:
            return []
        return [("smoke", position.live, {}), ("live-100", {green: 100}, {})]
    stages: list[tuple[str, dict[str, int], dict[str, int]]] = [("smoke", position.live, position.mirror)]
    if position.green_share == 0 and mirror_share:
        stages += [(f"mirror-{mirror_share}", position.live, {green: mirror_share}), ("mirror-off", position.live, {})]
    stages += [(f"live-{share}", {blue: 100 - share, green: share}, {}) for share in steps
               if share > position.green_share]
    return stages


def plan_rollout(ctx: Context, res: Resource) -> Action:
    """The stages apply would run from where the endpoint stands (all of them when it does not exist yet)."""
    endpoint = not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    green = res.extra["deployment"]
    position = Position.read(endpoint, green)
    observed = None if endpoint is None else {"traffic": position.live, "mirror_traffic": position.mirror}
    stages = remaining(res, position)
    previous = _previous_step(res, position)
    if not stages and previous is None:
        return Action(Verb.UNCHANGED, [f"{green} serves 100 % of live traffic"], endpoint, Reason.EQUAL, [], observed)
    details = [f"{name}: {_describe(live, mirror)}, then the smoke test through the {HEADER} header"
               for name, live, mirror in stages]
    details += [previous] if previous else []
    older = (getattr(endpoint, "tags", None) or {}).get(PREVIOUS_TAG)
    if stages and older not in (None, green, position.blue):
        details.append(f"then delete {older}, which an earlier rollout kept at 0 % (only the last previous deployment "
                       "is kept)")
    details.append("any failed stage: live traffic back to the previous deployment, mirroring off, apply fails")
    after = {green: 100}
    return Action(Verb.UPDATE if endpoint is not None else Verb.CREATE, details, endpoint,
                  Reason.DRIFT if endpoint is not None else Reason.ABSENT,
                  [FieldChange("traffic", position.live, after)], observed)


def _describe(live: dict[str, int], mirror: dict[str, int]) -> str:
    text = "live " + (" ".join(f"{k}={v}" for k, v in sorted(live.items())) or "none")
    return text + (f", mirror {' '.join(f'{k}={v}' for k, v in mirror.items())}" if mirror else "")


def _previous_step(res: Resource, position: Position) -> str | None:
    """What happens to the previous deployment at the end, or None when there is none left to act on."""
    if position.blue is None:
        return None
    return (f"keep {position.blue} at 0 %" if res.extra["keep_previous"] else f"delete {position.blue}")


def _set(ctx: Context, res: Resource, live: dict[str, int], mirror: dict[str, int], what: str,
         previous: str | None = None) -> None:
    """Set live and mirrored traffic in one endpoint update; with `previous`, also record (in the endpoint's tags,
    in that same update) the deployment that just lost the last of its traffic, so a later apply knows which one
    rollout.keep_previous keeps, even after an interruption."""
    endpoint = ctx.ml.online_endpoints.get(ctx.endpoint_name)
    endpoint.traffic = dict(live)
    endpoint.mirror_traffic = dict(mirror)
    if previous is not None:
        endpoint.tags = {**(endpoint.tags or {}), PREVIOUS_TAG: previous}
    wait_poller(ctx, res.id, ctx.ml.online_endpoints.begin_create_or_update(endpoint), what)


def apply_rollout(ctx: Context, res: Resource, action: Action) -> None:
    """Run the remaining stages from where the endpoint stands now; roll back at the first failure."""
    green = res.extra["deployment"]
    position = Position.read(ctx.ml.online_endpoints.get(ctx.endpoint_name), green)
    assert res.file is not None
    for name, live, mirror in remaining(res, position):
        try:
            if name != "smoke":
                last = position.blue is not None and live.get(green) == 100
                _set(ctx, res, live, mirror, f"{name}: {_describe(live, mirror)}", position.blue if last else None)
            answer = invoke(ctx, green, res.file)
            ctx.out.line(res.id, f"{name}: {green} answered through the {HEADER} header: {str(answer)[:120]}")
        except Exception as exc:  # any failure of a stage or of its smoke test rolls back
            raise _rolled_back(ctx, res, position.blue, green, name, exc) from None
    if position.blue is not None and not res.extra["keep_previous"]:
        wait_poller(ctx, res.id, ctx.ml.online_deployments.begin_delete(name=position.blue,
                                                                        endpoint_name=ctx.endpoint_name),
                    f"delete the previous deployment {position.blue}")
    elif position.blue is not None:
        ctx.out.line(res.id, f"kept the previous deployment {position.blue} at 0 %")
    _retire_older(ctx, res, green, position.blue)
    ctx.out.line(res.id, f"{green} serves 100 % of live traffic")


def _retire_older(ctx: Context, res: Resource, green: str, blue: str | None) -> None:
    """Delete the deployments at 0 % other than green and the one just kept: keep_previous keeps one previous
    deployment, so the one an earlier rollout kept goes now."""
    from generator.runner.serving import read_serving

    serving = read_serving(ctx.ml, ctx.endpoint_name)
    kept = [green] + ([blue] if blue is not None and res.extra["keep_previous"] else [])
    for name in serving.leftovers(kept, keep_previous=False) if serving is not None else []:
        wait_poller(ctx, res.id, ctx.ml.online_deployments.begin_delete(name=name, endpoint_name=ctx.endpoint_name),
                    f"delete {name} (at 0 %: only the last previous deployment is kept)")


def _rolled_back(ctx: Context, res: Resource, blue: str | None, green: str, stage: str,
                 cause: BaseException) -> RunnerError:
    """Return live traffic to `blue` and stop mirroring; the error says what failed and where traffic is."""
    from generator.runner.explain import explain

    why = explain(cause)
    if blue is None:
        return RunnerError(f"rollout stage {stage} failed for {green}: {why}\n  nothing served before it, so no "
                           "traffic was moved; fix the cause and apply again")
    try:
        _set(ctx, res, {blue: 100, green: 0}, {}, f"roll back: live {blue}=100 {green}=0, mirror off")
    except Exception as exc:  # the rollback itself failed: say so loudly, with where traffic may be
        return RunnerError(f"rollout stage {stage} failed for {green}: {why}\n  AND the rollback failed: "
                           f"{explain(exc)}\n  check the endpoint's traffic now: az ml online-endpoint show --name "
                           f"{ctx.endpoint_name}")
    return RunnerError(f"rollout stage {stage} failed for {green}: {why}\n  rolled back: {blue} serves 100 % of "
                       f"live traffic, {green} 0 %, mirroring off; fix the cause and apply again (the job and the "
                       "model are not redone)")
