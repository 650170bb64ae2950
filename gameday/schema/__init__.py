"""The models of the files users write, and the one way they are checked.

Each file has a pydantic model (``extra="forbid"``, strict types, bounded numbers): the model is
the single statement of what the file may hold. Loaders check parsed YAML with it::

    from gameday.schema.base import check
    model = check(EnvironmentFile, data, "environments/sandbox.yaml", schema="environment")

which returns the validated model or raises ONE :class:`~gameday.errors.UsageError` listing every
problem (key path, what is wrong, the fix). ``python -m gameday.schema`` writes the JSON Schemas
in ``schemas/`` (see :mod:`gameday.schema.publish`) for editors to validate the files as they type.

Modules: ``base`` (the strict base model, ``check`` and the message), ``environment`` (var files),
``suite``, ``targets`` (targets.yaml), ``traffic`` (loadtests/traffic.yaml), ``platform``
(platform.yaml and inventory/), ``publish`` (the JSON Schemas).
"""
