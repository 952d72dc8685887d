"""The runner: plan / apply / status / invoke / destroy the generated YAML against a workspace."""
