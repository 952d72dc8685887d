"""The local target: the same spec and generated YAML, run for real on this CPU machine.

A local workspace (an HTTPS server the real MLClient talks to) stores resources, runs the
fine-tuning job as a subprocess with a tiny Phi-3-architecture model, and serves deployments.
torch, transformers, peft and mlflow come from the local extra (requirements-local.txt) and are
imported only by the modules that use them.
"""
