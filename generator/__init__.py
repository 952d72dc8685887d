"""YAML-first Azure ML fine-tuning: spec → validated → Azure ML YAML → applied."""

__version__ = "0.1.0"
