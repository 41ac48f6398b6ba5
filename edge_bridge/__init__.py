"""The on-prem edge bridge: drives cameras, barriers and displays, decides locally with
``saas.compliance`` and forwards every passage to the cloud. Imports nothing from ``saas``
except ``saas.compliance`` and installs without Flask or SQLAlchemy (``cleangate[edge]``)."""

__version__ = "0.1.0"
