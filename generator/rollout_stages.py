"""Blue/green rollout on the spec side: the new version's deployment name, its stages, and Azure's limits as rules.

Azure's safe rollout (MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-safely-rollout-online-endpoints.md
@96b17518, and azureml-examples cli/deploy-safe-rollout-online-endpoints.sh @7b958d4d7): a new deployment at 0 %,
tested directly, mirrored, given a small live share, then all of it, then the old one deleted. The runner's side
(reading the endpoint, running the stages, rolling back) is generator/runner/steps/rollout.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.diagnostics import Problem
from generator.rules import ONLINE_NAME, rule
from generator.source import Located

SAFE_ROLLOUT = ("MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-safely-rollout-online-endpoints.md "
                "@96b17518")
HEADER = "azureml-model-deployment"
# percent of live traffic (SAFE_ROLLOUT); a request naming a deployment goes only there and is not mirrored
MAX_MIRROR = 50


def deployment_name(data: dict[str, Any]) -> str:
    """The deployment of this run's model: `<deployment.name>-v<run>` with a rollout (blue and green live side by
    side), else `deployment.name` (updated in place)."""
    name = data["deployment"]["name"]
    return f"{name}-v{data['experiment']['run']}" if data.get("rollout") else name


def previous_name(data: dict[str, Any]) -> str | None:
    """The deployment the previous run's rollout created (what the manifest's hand-run commands retire); apply
    reads the one really serving from the endpoint instead."""
    run = int(data["experiment"]["run"])
    return f"{data['deployment']['name']}-v{run - 1}" if data.get("rollout") and run > 1 else None


def stages(data: dict[str, Any], endpoint: str, request_file: str) -> dict[str, str]:
    """Every stage of the rollout with the `az ml` command that does it by hand, in order."""
    rollout = data["rollout"]
    green, blue = deployment_name(data), previous_name(data)
    update = f"az ml online-endpoint update --name {endpoint}"
    out = {"smoke": f"az ml online-endpoint invoke --name {endpoint} --deployment-name {green} "
                    f"--request-file {request_file}"}
    if blue is None:  # the first version: nothing serves yet, so it gets all the traffic at once
        out["live-100"] = f'{update} --traffic "{green}=100"'
        return out
    if rollout["mirror_percent"]:
        out[f"mirror-{rollout['mirror_percent']}"] = f'{update} --mirror-traffic "{green}={rollout["mirror_percent"]}"'
        out["mirror-off"] = f'{update} --mirror-traffic "{green}=0"'
    for share in rollout["traffic_steps"]:
        out[f"live-{share}"] = f'{update} --traffic "{blue}={100 - share} {green}={share}"'
    out["previous"] = (f"# keep {blue} at 0 %" if rollout["keep_previous"] else
                       f"az ml online-deployment delete --endpoint-name {endpoint} --name {blue} --yes")
    return out


@rule("rollout", "deployment")
def _rollout(data: dict[str, Any], located: Located, root: Path) -> Iterable[Problem]:
    rollout = data.get("rollout")
    if not rollout:
        return
    steps = rollout["traffic_steps"]
    if rollout["mirror_percent"] > MAX_MIRROR:
        yield located.problem(("rollout", "mirror_percent"),
                              f"at most {MAX_MIRROR}: 'The maximum percentage of traffic you can mirror is 50 "
                              f"percent' ({SAFE_ROLLOUT}); got {rollout['mirror_percent']}")
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        yield located.problem(("rollout", "traffic_steps"), f"the shares must increase, got {steps}")
    if steps[-1] != 100:
        yield located.problem(("rollout", "traffic_steps"), f"the last step must be 100: live traffic sums to 0 or "
                                                            f"100 percent, so the new deployment ends with all of it "
                                                            f"({SAFE_ROLLOUT}); got {steps[-1]}")
    if data["deployment"]["traffic_percent"] != 100:
        yield located.problem(("deployment", "traffic_percent"), "with rollout: the new deployment ends at 100 % "
                                                                 "(rollout.traffic_steps give the stages); remove "
                                                                 "traffic_percent or set it to 100")
    name = deployment_name(data)
    if not ONLINE_NAME.fullmatch(name):
        yield located.problem(("deployment", "name"), f"with rollout the deployment of run "
                                                      f"{data['experiment']['run']} is named {name!r} "
                                                      f"({len(name)} characters): a deployment name must be 3-32 "
                                                      "letters, digits and '-'; shorten deployment.name")
