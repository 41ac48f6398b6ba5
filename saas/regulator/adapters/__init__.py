"""Built-in adapters; importing this package registers them (see ``base.get_adapter``)."""
