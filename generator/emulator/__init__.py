"""The Azure ML service double: an HTTPS workspace the real MLClient talks to, for the tests and the local target.

ARM resources and long-running operations, run history, blobs, the registry (served from the catalog), MLflow
reads and live-traffic routing, each in its own module. Jobs and deployments are run by a backend the workspace is
given: the local runtime (generator/local/) really trains and serves; the tests' gated backend only moves states.
Nothing here imports generator/local/ or torch.
"""
