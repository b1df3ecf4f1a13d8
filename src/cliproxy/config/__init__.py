"""The typed config, its editing, the snapshot a request runs on, live reload and the model registry."""
