"""What azureml-mlflow needs from a workspace: cloud metadata, a token, and the MLflow REST subset it reads.

A mixin of the workspace's request handler (generator/emulator/workspace.py). Sources of the shapes:
- cloud metadata (the cloud the SDK's config names, generator/emulator/connect.py cloud_settings): the list ARM serves
  at `metadata/endpoints?api-version=2019-05-01`, read by azureml-mlflow 1.62.0.post6
  (`azureml/mlflow/_common/_cloud/cloud.py` `_arm_to_cli_mapper`: `name`, `authentication.loginEndpoint`/`audiences`,
  `resourceManager`, `suffixes`) when `ARM_CLOUD_METADATA_URL` names it;
- the token: the App Service managed-identity protocol azure-identity's ManagedIdentityCredential speaks when
  `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (GET `?api-version=2019-08-01&resource=…` with an
  `X-IDENTITY-HEADER`; answer `access_token`, `expires_on`, `resource`, `token_type`), the credential of Azure
  services that azureml-mlflow's DefaultAzureCredential chain tries before any browser login;
- MLflow: `<host>/mlflow/v2.0/subscriptions/…/workspaces/<ws>` + MLflow's own REST API 2.0 (experiments
  get-by-name, runs get and search, metrics get-history), JSON as mlflow's protos serialise it, answered
  from the MLflow store the workspace's jobs log to (`Emulator.mlflow_store`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

MLFLOW_PREFIX = "/mlflow/v2.0/"
API = "/api/2.0/mlflow/"


class MlflowRoutes:
    """Cloud metadata, managed-identity tokens, and the MLflow reads of azureml-mlflow."""

    owner: Any
    headers: Any
    command: str
    _send: Any

    def _cloud_metadata(self) -> None:
        e = self.owner
        self._send(200, [{
            "name": f"AzmlLocal{e.port}", "portal": f"{e.base_url}/portal/",
            "authentication": {"loginEndpoint": f"{e.base_url}/aad/", "audiences": [f"{e.base_url}/"],
                               "tenant": "common", "identityProvider": "AAD"},
            "resourceManager": f"{e.base_url}/", "gallery": f"{e.base_url}/", "batch": f"{e.base_url}/",
            "graphAudience": f"{e.base_url}/", "sqlManagement": f"{e.base_url}/", "media": f"{e.base_url}/",
            "vmImageAliasDoc": f"{e.base_url}/", "activeDirectoryDataLake": f"{e.base_url}/",
            "suffixes": {"storage": e.storage_suffix, "keyVaultDns": "vault.azmlemu.test",
                         "sqlServerHostname": "database.azmlemu.test", "acrLoginServer": "azurecr.azmlemu.test"}}])

    def _managed_identity_token(self, query: str) -> None:
        from generator.emulator.connect import LocalCredential

        secret = self.owner.settings.token_secret
        if secret and self.headers.get("X-IDENTITY-HEADER") != secret:
            self._send(401, {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is not the local "
                                                                               "workspace's"})
            return
        resource = (parse_qs(query).get("resource") or [""])[0]
        token = LocalCredential(secret) if secret else LocalCredential()
        issued = token.get_token(resource)
        self._send(200, {"access_token": issued.token, "expires_on": str(issued.expires_on), "resource": resource,
                         "token_type": "Bearer"})

    def _mlflow(self, path: str, query: str, body: bytes) -> None:
        """`<workspace scope>/api/2.0/mlflow/<call>`, read from the workspace's MLflow store."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
        from mlflow.utils.proto_json_utils import message_to_json

        store = self.owner.mlflow_store
        call = path.split(API, 1)[1] if API in path else ""
        if store is None or call not in ("experiments/get-by-name", "runs/get", "runs/search",
                                         "metrics/get-history"):
            self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"{path} is not served here"})
            return
        args = {k: v[0] for k, v in parse_qs(query).items()}
        if self.command == "POST":
            args.update(json.loads(body or b"{}"))
        self.owner.backend.prepare_store()  # the local workspace's store: made once, under its lock
        client = MlflowClient(store)

        def answer(key: str, value: Any) -> None:
            protos = value if isinstance(value, list) else [value]
            converted = [json.loads(message_to_json(item.to_proto())) for item in protos]
            self._send(200, {key: converted if isinstance(value, list) else converted[0]})

        try:
            if call == "experiments/get-by-name":
                found = client.get_experiment_by_name(args["experiment_name"])
                if found is None:
                    self._send(404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                     "message": f"Experiment '{args['experiment_name']}' does not exist."})
                    return
                answer("experiment", found)
            elif call == "runs/get":
                answer("run", client.get_run(args["run_id"]))
            elif call == "runs/search":
                answer("runs", list(client.search_runs(args.get("experiment_ids") or [],
                                                       filter_string=args.get("filter", ""),
                                                       max_results=int(args.get("max_results", 1000)))))
            else:
                answer("metrics", client.get_metric_history(args["run_id"], args["metric_key"]))
        except MlflowException as exc:
            self._send(exc.get_http_status_code(), {"error_code": exc.error_code, "message": exc.message})
        except KeyError as exc:
            self._send(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"missing {exc.args[0]}"})
