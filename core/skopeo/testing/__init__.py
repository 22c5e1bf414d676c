"""Test helpers shipped with the core, for our tests and for plugin authors:
synthetic images, whole-image validation, and pytest fixtures (registered as the
``skopeo`` pytest plugin) that start real components on loopback."""
