"""Start the workspace emulator (generator/emulator/) for a test."""
