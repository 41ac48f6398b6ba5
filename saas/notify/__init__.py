"""Site-contact notifications through a transactional outbox (docs/notifications.md).

* ``queue_alert_notices`` (``saas.notify.alerts``) writes one ``outbox_messages`` row per
  active contact × enabled channel of a site, in the transaction of the alert that causes it;
* the relay (``saas.notify.relay``) delivers the rows at least once through the channels of
  ``saas.notify.channels`` (SMS: Aliyun, Tencent Cloud, simulator; WeChat subscribe message;
  e-mail), retrying with exponential backoff;
* ``saas.notify.jobs`` enqueues a relay job after COMMIT; ``cleangate notify relay [--loop]``
  sweeps every tenant (``saas.notify.cli``);
* contacts are managed by ``saas.notify.contacts`` (routes in ``saas.api.contacts``).
"""

from saas.notify.alerts import queue_alert_notices
from saas.notify.relay import RelayCounts, RetryPolicy, relay_all, relay_app

# ``saas.notify.relay`` stays the module; its ``relay(sessionmaker, channels, …)`` is the core.
__all__ = ["RelayCounts", "RetryPolicy", "queue_alert_notices", "relay_all", "relay_app"]
