"""The emulator for tests: harness.py starts it (with the hooks a test holds), gated.py is its backend."""
