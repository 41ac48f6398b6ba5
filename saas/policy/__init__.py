"""Heavy-pollution alerts, 一厂一策 plans, and the emergency execution record (docs/alerts.md,
docs/plans.md). Import the modules (``saas.policy.alerts``, ``saas.policy.plans``); this package
itself imports nothing."""
