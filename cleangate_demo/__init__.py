"""The whole system on one machine (`make demo`, docs/demo.md): a demo tenant with two sites,
their edge bridges with simulated cameras, barriers and displays, steady truck traffic, the
regulator reference receiver, and the cloud's web, hub, worker and scheduler.

A package of its own because it is the one place that drives both sides: it seeds the cloud
through ``saas``/``tenants`` services and starts ``edge_bridge`` daemons as child processes fed
by ``edge_bridge.simulate``. Nothing imports it but the ``cleangate`` command (``saas.cli``)
and the tests.
"""
