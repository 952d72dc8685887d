"""The planner and the applier of each manifest kind."""

from __future__ import annotations

from collections.abc import Callable

from generator.runner.experiment import Resource
from generator.runner.plan import Action
from generator.runner.steps.base_endpoint import apply_base_endpoint, plan_base_endpoint
from generator.runner.steps.chat_completion import apply_chat, plan_chat
from generator.runner.steps.common import Context
from generator.runner.steps.compute import apply_compute, plan_compute
from generator.runner.steps.data import apply_data, plan_data
from generator.runner.steps.deployment import apply_deployment, plan_deployment
from generator.runner.steps.endpoint import apply_endpoint, plan_endpoint
from generator.runner.steps.endpoint_evaluation import apply_endpoint_evaluation, plan_endpoint_evaluation
from generator.runner.steps.evaluation import apply_evaluation_job, apply_gate, plan_evaluation_job, plan_gate
from generator.runner.steps.finetuning_job import apply_finetuning_job, plan_finetuning_job
from generator.runner.steps.job import apply_job, plan_job
from generator.runner.steps.leftovers import apply_leftovers, plan_leftovers
from generator.runner.steps.marketplace_subscription import (
    apply_marketplace_subscription,
    plan_marketplace_subscription,
)
from generator.runner.steps.model import apply_model, plan_model
from generator.runner.steps.parity import apply_parity, plan_parity
from generator.runner.steps.rollout import apply_rollout, plan_rollout
from generator.runner.steps.serverless_endpoint import apply_serverless_endpoint, plan_serverless_endpoint
from generator.runner.steps.traffic import apply_invoke, apply_traffic, plan_invoke, plan_traffic
from generator.runner.sweep import apply_select, plan_select

PLANNERS: dict[str, Callable[[Context, Resource], Action]] = {
    "compute": plan_compute, "data": plan_data, "online_endpoint": plan_endpoint, "pipeline_job": plan_job,
    "select": plan_select, "model": plan_model, "online_deployment": plan_deployment, "traffic": plan_traffic,
    "rollout": plan_rollout, "invoke": plan_invoke, "evaluation_job": plan_evaluation_job,
    "evaluation_gate": plan_gate, "leftover_deployments": plan_leftovers, "parity": plan_parity,
    "finetuning_job": plan_finetuning_job, "serverless_endpoint": plan_serverless_endpoint,
    "marketplace_subscription": plan_marketplace_subscription, "chat_completion": plan_chat,
    "base_endpoint": plan_base_endpoint, "endpoint_evaluation": plan_endpoint_evaluation}
APPLIERS: dict[str, Callable[[Context, Resource, Action], None]] = {
    "compute": apply_compute, "data": apply_data, "online_endpoint": apply_endpoint, "pipeline_job": apply_job,
    "select": apply_select, "model": apply_model, "online_deployment": apply_deployment, "traffic": apply_traffic,
    "rollout": apply_rollout, "invoke": apply_invoke, "evaluation_job": apply_evaluation_job,
    "evaluation_gate": apply_gate, "leftover_deployments": apply_leftovers, "parity": apply_parity,
    "finetuning_job": apply_finetuning_job, "serverless_endpoint": apply_serverless_endpoint,
    "marketplace_subscription": apply_marketplace_subscription, "chat_completion": apply_chat,
    "base_endpoint": apply_base_endpoint, "endpoint_evaluation": apply_endpoint_evaluation}
