"""Traffic and the smoke test: the deployment gets its share, then answers the sample request."""

from __future__ import annotations

from pathlib import Path

from generator.errors import RequestTooLarge, UsageError
from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError, explain
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import Context, not_found, wait_poller


def _desired(res: Resource, live: dict[str, int]) -> dict[str, int]:
    """The live traffic the spec asks for: its deployment's share, every other deployment's 0 (live traffic sums to
    0 or 100 percent: MicrosoftDocs/azure-ai-docs how-to-safely-rollout-online-endpoints.md @96b17518)."""
    return {**{k: 0 for k in live}, **{str(k): int(v) for k, v in res.extra["traffic"].items()}}


def _retired(res: Resource, live: dict[str, int], mirror: dict[str, int]) -> list[str]:
    """The deployments that served (live or mirrored) and that the spec does not name: deleted once the spec's
    deployment has their traffic."""
    named = {str(k) for k in res.extra["traffic"]}
    return sorted(k for k in {**live, **mirror} if k not in named and (live.get(k, 0) or mirror.get(k, 0)))


def plan_traffic(ctx: Context, res: Resource) -> Action:
    """The spec's shares, every other deployment at 0 and no mirroring; unchanged when it already is so. The
    deployments that lose their traffic and that the spec does not name are deleted afterwards."""
    endpoint = not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    current = {k: int(v) for k, v in ((endpoint.traffic if endpoint else None) or {}).items()}
    mirror = {k: int(v) for k, v in (getattr(endpoint, "mirror_traffic", None) or {}).items() if int(v)}
    desired = _desired(res, current)
    observed = None if endpoint is None else {"traffic": current, "mirror_traffic": mirror}
    retired = _retired(res, current, mirror)
    if endpoint is not None and {k: v for k, v in current.items() if v} == {k: v for k, v in desired.items() if v} \
            and not mirror and not retired:
        return Action(Verb.UNCHANGED, [f"traffic {current}"], endpoint, Reason.EQUAL, [], observed)
    changes = [FieldChange("traffic", current or {}, desired)] + ([FieldChange("mirror_traffic", mirror, {})]
                                                                   if mirror else [])
    details = [f"traffic: {current or {}} -> {desired}"] + ([f"mirror_traffic: {mirror} -> {{}}"] if mirror else [])
    details += [f"then delete {name}: it served until {', '.join(res.extra['traffic'])} took its traffic, and the "
                "spec does not name it" for name in retired]
    return Action(Verb.UPDATE if endpoint else Verb.CREATE, details, endpoint,
                  Reason.DRIFT if endpoint else Reason.ABSENT, changes, observed)


def apply_traffic(ctx: Context, res: Resource, action: Action) -> None:
    """Set the shares on the endpoint as it is now (re-read: the deployment step may have just created it), stop
    any mirroring, then delete the deployments that served and that the spec does not name."""
    endpoint = ctx.ml.online_endpoints.get(ctx.endpoint_name)
    live = {k: int(v) for k, v in (endpoint.traffic or {}).items()}
    mirror = {k: int(v) for k, v in (getattr(endpoint, "mirror_traffic", None) or {}).items() if int(v)}
    endpoint.traffic = _desired(res, live)
    if mirror:
        endpoint.mirror_traffic = {k: 0 for k in mirror}
    wait_poller(ctx, res.id, ctx.ml.online_endpoints.begin_create_or_update(endpoint), "set traffic")
    for name in _retired(res, live, mirror):
        wait_poller(ctx, res.id, ctx.ml.online_deployments.begin_delete(name=name, endpoint_name=ctx.endpoint_name),
                    f"delete {name} (it no longer serves, and the spec does not name it)")


def plan_invoke(ctx: Context, res: Resource) -> Action:
    """The smoke test runs on every apply."""
    request = res.file.name if res.file else "the sample request"
    return Action(Verb.RUN, [f"send {request} to {ctx.endpoint_name}/{res.extra.get('deployment')}"],
                  reason=Reason.ACTION)


def _read_request(ctx: Context, request_file: Path) -> bytes:
    """The request file's bytes, refused before sending when the target takes no request that large or when it is
    not a scoring request (JSON of the scoring contract, generator/request.py)."""
    from generator.request import parse_request, size_text

    try:
        size = request_file.stat().st_size
        limit = ctx.target.max_request_bytes
        if limit is not None and size > limit:
            raise UsageError(f"request file {request_file} is {size_text(size)}: "
                             f"{ctx.target.request_limit.format(limit=size_text(limit))}; nothing was sent")
        body = request_file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the request file {request_file}: {exc.strerror}") from None
    try:
        parse_request(body)
    except ValueError as exc:
        raise UsageError(f"request file {request_file} ({size_text(len(body))}) is not a scoring request: {exc}; "
                         "nothing was sent") from None
    return body


def invoke(ctx: Context, deployment: str, request_file: Path) -> str:
    """Send `request_file` to the deployment; return the raw answer (the key never leaves the SDK).
    The request is checked (its type, and its size against the target's limit) first, so a bad file never reaches
    the endpoint; when the endpoint refuses it or the connection breaks, the error says how large it was."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    from generator.request import AZURE_LIMIT, size_text

    body = _read_request(ctx, request_file)
    sent = f"the request ({request_file}) was {size_text(len(body))}; {AZURE_LIMIT}"
    try:
        return str(ctx.ml.online_endpoints.invoke(endpoint_name=ctx.endpoint_name, deployment_name=deployment,
                                                  request_file=str(request_file)))
    except (AttributeError, TypeError) as exc:
        logs = ctx.target.deployment_log(ctx.endpoint_name, deployment)
        # azure-ai-ml 1.35's validate_response (_utils/_endpoint_utils.py) crashes on some error answers: a body
        # whose "error" is not an object (AttributeError), and any 408, which it maps to
        # ServiceRequestTimeoutError(response=…) without the message that class requires (TypeError).
        raise RunnerError(f"invoke {ctx.endpoint_name}/{deployment}: the endpoint answered an error that azure-ai-ml "
                          f"fails to read ({type(exc).__name__}: {exc}); a request that outlived the deployment's "
                          f"request_timeout_ms (HTTP 408) is one such answer. The deployment's logs say more: "
                          f"{logs}") from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise RunnerError(f"invoke {ctx.endpoint_name}/{deployment}: the connection broke ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); {sent}, so whether its size is the "
                          "cause is not known: try a smaller request") from None
    except HttpResponseError as exc:
        if getattr(exc, "status_code", None) == 413:
            raise RequestTooLarge(f"invoke {ctx.endpoint_name}/{deployment}: the endpoint refused the request as "
                                  f"too large (HTTP 413); {sent}: send a smaller one", status=413) from None
        raise explain(exc, f"invoke {ctx.endpoint_name}/{deployment}") from None


def apply_invoke(ctx: Context, res: Resource, action: Action) -> None:
    """Send the smoke-test request and print the answer."""
    assert res.file is not None
    answer = invoke(ctx, res.extra["deployment"], res.file)
    ctx.out.line(res.id, f"answer: {answer}")
