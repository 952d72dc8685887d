"""A local HTTPS fake of the Azure ML service, for testing the runner with the real MLClient."""
