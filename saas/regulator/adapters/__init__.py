"""Built-in adapters; importing this package registers them (see ``base.get_adapter``)."""

from saas.regulator.adapters import hj1321_json  # noqa: F401  (registers hj1321-json)
