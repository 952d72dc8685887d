"""Render a valid spec into the text of every file of generated/<experiment>/ (in memory)."""

from __future__ import annotations

from pathlib import Path

from generator import serverless, serverless_render
from generator.entities import entities
from generator.manifest import manifest
from generator.paths import TEMPLATES_DIR
from generator.spec import Spec
from generator.templating import render_template

MANIFEST = "manifest.yml"


def header(spec: Spec) -> str:
    """The first line of every generated YAML file."""
    return f"# generated from {spec.file} by `make render` - do not edit; edit the spec and re-render\n"


def render_spec(spec: Spec, templates_dir: Path = TEMPLATES_DIR) -> dict[str, str]:
    """File name → content for every file of the experiment (on its route), byte-for-byte deterministic."""
    on_serverless = serverless.chosen(spec.data)
    files: dict[str, str] = {}
    for entity in serverless_render.entities(spec) if on_serverless else entities(spec):
        text = render_template(entity.template, entity.context, templates_dir) if entity.template else \
            Path(entity.context["source"]).read_text(encoding="utf-8")
        files[entity.file] = text if entity.file.endswith(".json") else header(spec) + text
    listed = serverless_render.manifest(spec) if on_serverless else manifest(spec)
    files[MANIFEST] = header(spec) + render_template("manifest.yml.j2", {"manifest": listed}, templates_dir)
    return files
