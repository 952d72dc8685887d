"""Errors the runner reports as a short paragraph, never as a stack of HttpResponseError."""

from __future__ import annotations

import re
from typing import Any

from generator.errors import CloudError, EndpointNameTaken, ExitCode, GeneratorError, NotLoggedIn, Refused

LOGIN_HELP = (
    "Could not get an Azure token. The runner tries DefaultAzureCredential (environment variables, "
    "managed identity, `az login`, VS Code, …) and, only when a person is at the terminal, a browser "
    "login. Log in with `az login` (add `--tenant <id>` for another tenant; `az account set "
    "--subscription <id>` to pick the subscription), or set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
    "AZURE_CLIENT_SECRET for a service principal, then run the command again.")

HINTS = {
    "AuthorizationFailed": "your identity lacks a role on the workspace: ask for 'AzureML Data Scientist' (or "
                           "Contributor) on it",
    "QuotaExceeded": "request more vCPU quota for that VM family in the workspace's region, or lower "
                     "compute.max_instances / deployment.instance_count in the spec",
    "ResourceNotFound": "check the workspace ids (config.json, --subscription/--resource-group/--workspace)",
    "ResourceGroupNotFound": "check the resource group name in config.json or --resource-group",
    "SubscriptionNotFound": "check the subscription id in config.json or --subscription",
}


# Azure's words for an endpoint name used elsewhere in the region (azureml-examples PR #1931; Azure/azureml-assets
# assets/aml-benchmark/tests/test_utils.py): "There is already an endpoint with this name, Endpoint name needs to
# be unique within a region. Try some other name."
ENDPOINT_NAME_TAKEN = re.compile(r"already an endpoint with this name|needs to be unique within a region", re.I)


class RunnerError(GeneratorError):
    """A runner failure with a message meant for the user: a job that failed, a rollout stage, a delete (exit 1)."""


class StepRefused(Refused):
    """A plan step apply cannot carry out (a finished job with other inputs, a changed data file): plan says so, apply
    refuses before touching anything (exit 1 from both)."""


class OverBudget(Refused):
    """The upper estimate exceeds budget.max_usd, or cannot be made while a budget is set: plan says so, apply refuses
    without --over-budget (exit 1 from both)."""


class NotRunnable(RunnerError):
    """Pre-flight: the workspace cannot run the spec as it is (the model retired, a size not offered in the region, a
    GPU count, quota short, a compute in Failed state); the spec must change (exit 2, before anything is created)."""

    exit_code = ExitCode.INVALID


class NothingToRead(RunnerError):
    """What the command reads is not there yet: no MLflow run or metric of the job, no registered sweep point, the
    local workspace not started, a store that cannot be read (exit 2)."""

    exit_code = ExitCode.INVALID


def explain(exc: BaseException, doing: str = "") -> GeneratorError:
    """Turn an azure-core / azure-identity / SDK exception into one of our errors, with a hint."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    prefix = f"{doing}: " if doing else ""
    if isinstance(exc, GeneratorError):
        return exc
    if isinstance(exc, ClientAuthenticationError) or type(exc).__name__ == "CredentialUnavailableError":
        return NotLoggedIn(prefix + LOGIN_HELP)
    if isinstance(exc, HttpResponseError):
        code, message = _code_and_message(exc)
        hint = HINTS.get(code or "")
        text = f"{prefix}{code or exc.status_code}: {message}" + (f"\n  what to do: {hint}" if hint else "")
        return CloudError(text, status=exc.status_code, code=code, hint=hint)
    if isinstance(exc, ServiceRequestError):
        return CloudError(f"{prefix}cannot reach the service: {exc.message}")
    return RunnerError(f"{prefix}{type(exc).__name__}: {exc}")


STORAGE_ROLE = re.compile(r"AuthorizationPermissionMismatch|don't have permission to alter this storage account")


def storage_role_error(exc: BaseException, doing: str, account: str) -> GeneratorError | None:
    """An upload refused to the user's own token (identity-based datastores) as a RunnerError naming the role, the
    storage account and how to grant it; None for any other failure."""
    if not STORAGE_ROLE.search(f"{exc} {getattr(exc, 'error_code', '')}"):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CloudError(
        f"{doing}: {type(exc).__name__}: {first}\n  why: the workspace's datastores use identity-based access "
        f"(systemDatastoresAuthMode: identity), so uploads go to storage account {account} with your own Azure AD "
        "token, and it has no blob-data role there.\n  what to do: ask an owner for 'Storage Blob Data Contributor' "
        f"on {account}: az role assignment create --assignee <your-id> --role \"Storage Blob Data Contributor\" "
        f"--scope <the resource id of {account}>; role assignments can take minutes to apply; then apply again",
        code="AuthorizationPermissionMismatch")


def _code_and_message(exc: Any) -> tuple[str | None, str]:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if not message:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else {}
            error_body = body.get("error") if isinstance(body, dict) else None
            if isinstance(error_body, str):  # a scoring server's {"error": "..."}
                message = error_body
            elif isinstance(error_body, dict):
                code = code or error_body.get("code")
                message = error_body.get("message")
        except Exception:  # a body that is not JSON: fall back to the exception text
            message = None
    return code, (message or str(exc).splitlines()[0])


def endpoint_error(exc: BaseException, name: str) -> GeneratorError:
    """A failed endpoint create as EndpointNameTaken when Azure's message says so, else explained."""
    error = explain(exc, f"create endpoint {name}")
    text = f"{exc} {error}"
    if ENDPOINT_NAME_TAKEN.search(text):
        return EndpointNameTaken(name, _code_and_message(exc)[1] if hasattr(exc, "response") else str(exc))
    return error
