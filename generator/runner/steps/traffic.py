"""Traffic and the smoke test: the deployment gets its share, then answers the sample request."""

from __future__ import annotations

from pathlib import Path

from generator.runner.explain import EXIT_CLOUD, EXIT_INPUT, RunnerError, explain
from generator.runner.experiment import Resource
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import Context, not_found, wait_poller

def plan_traffic(ctx: Context, res: Resource) -> Action:
    """The endpoint's live traffic with the manifest's shares merged in: unchanged when it already is so."""
    wanted = {str(k): int(v) for k, v in res.extra["traffic"].items()}
    endpoint = not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    current = {k: int(v) for k, v in ((endpoint.traffic if endpoint else None) or {}).items()}
    merged = {**current, **wanted}
    observed = None if endpoint is None else {"traffic": current}
    if endpoint is not None and current == merged:
        return Action(Verb.UNCHANGED, [f"traffic {current}"], endpoint, Reason.EQUAL, [], observed)
    change = FieldChange("traffic", current or {}, merged)
    return Action(Verb.UPDATE if endpoint else Verb.CREATE, [f"traffic: {current or {}} -> {merged}"], endpoint,
                  Reason.DRIFT if endpoint else Reason.ABSENT, [change], observed)


def apply_traffic(ctx: Context, res: Resource, action: Action) -> None:
    """Set the shares on the endpoint as it is now (re-read: the deployment step may have just created it)."""
    endpoint = ctx.ml.online_endpoints.get(ctx.endpoint_name)
    endpoint.traffic = {**{k: int(v) for k, v in (endpoint.traffic or {}).items()},
                        **{str(k): int(v) for k, v in res.extra["traffic"].items()}}
    wait_poller(ctx, res.id, ctx.ml.online_endpoints.begin_create_or_update(endpoint), "set traffic")


def plan_invoke(ctx: Context, res: Resource) -> Action:
    """The smoke test runs on every apply."""
    request = res.file.name if res.file else "the sample request"
    return Action(Verb.RUN, [f"send {request} to {ctx.endpoint_name}/{res.extra.get('deployment')}"],
                  reason=Reason.ACTION)


def invoke(ctx: Context, deployment: str, request_file: Path) -> str:
    """Send `request_file` to the deployment; return the raw answer (the key never leaves the SDK).
    The request is checked against the scoring contract first, so a bad file never reaches the endpoint."""
    from azure.core.exceptions import HttpResponseError

    from generator.request import parse_request

    try:
        parse_request(request_file.read_bytes())
    except OSError as exc:
        raise RunnerError(f"cannot read the request file {request_file}: {exc.strerror}", EXIT_INPUT) from None
    except ValueError as exc:
        raise RunnerError(f"request file {request_file}: {exc}", EXIT_INPUT) from None
    try:
        return ctx.ml.online_endpoints.invoke(endpoint_name=ctx.endpoint_name, deployment_name=deployment,
                                              request_file=str(request_file))
    except (AttributeError, TypeError) as exc:
        logs = (f"{ctx.local_state / 'deployments' / f'{ctx.endpoint_name}-{deployment}' / 'scoring.log'}"
                if ctx.local and ctx.local_state is not None else
                f"az ml online-deployment get-logs --endpoint-name {ctx.endpoint_name} --name {deployment}")
        # azure-ai-ml 1.35's validate_response (_utils/_endpoint_utils.py) crashes on some error answers: a body
        # whose "error" is not an object (AttributeError), and any 408, which it maps to
        # ServiceRequestTimeoutError(response=…) without the message that class requires (TypeError).
        raise RunnerError(f"invoke {ctx.endpoint_name}/{deployment}: the endpoint answered an error that azure-ai-ml "
                          f"fails to read ({type(exc).__name__}: {exc}); a request that outlived the deployment's "
                          f"request_timeout_ms (HTTP 408) is one such answer. The deployment's logs say more: {logs}",
                          EXIT_CLOUD) from None
    except HttpResponseError as exc:
        raise explain(exc, f"invoke {ctx.endpoint_name}/{deployment}") from None


def apply_invoke(ctx: Context, res: Resource, action: Action) -> None:
    """Send the smoke-test request and print the answer."""
    assert res.file is not None
    answer = invoke(ctx, res.extra["deployment"], res.file)
    ctx.out.line(res.id, f"answer: {answer}")
