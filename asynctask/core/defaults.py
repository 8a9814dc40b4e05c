"""Every default of a service, written once: the constructor, HTTP and the command line read them here."""

from datetime import timedelta

#: A task still ``running`` this long after its submission is failed with ``TimeoutError``.
TASK_TIMEOUT = timedelta(hours=4)
#: A running task with no heartbeat for this long lost its process (``OwnerLostError``).
LEASE = timedelta(seconds=60)
#: Where the task logs go: ``<LOGGER_DIR>/<task_id>.log``.
LOGGER_DIR = "logs"
#: The URL path a service is served at.
ENDPOINT = "/api"
#: Seconds between two queue lines (``waiting: W, running: R``) in ``threads_num.log``.
MONITOR_INTERVAL = 60.0
