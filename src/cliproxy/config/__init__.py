"""The config: one immutable snapshot of the file, the credentials and the models, swapped whole on reload.

- ``schema``: the typed sections of ``config.yaml`` (frozen msgspec structs, CPA's key spelling).
- ``load``: reading the YAML file, lenient coercion, one message per bad key, environment overrides.
- ``edit``: writing settings back into the file, keeping the user's comments and key order.
- ``catalogue``: the bundled model catalogue (``ModelInfo``, which plan sees which model).
- ``models``: the model registry, routing a client's model name to the credentials that serve it.
- ``snapshot``: the view a request runs on (config, credentials, registry).
- ``reload``: watching the file and the auth dir, rebuilding and swapping the snapshot.
"""
