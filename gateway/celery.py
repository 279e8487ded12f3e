"""The Celery application. Configuration comes from Django settings (CELERY_*).

With no broker (the embedded default of `make run`), tasks run in-process
(eagerly). EAGER_TASKS_IN_THREAD moves them off the request: each is handed to
one background thread of the process and runs there, after the answer has gone,
as a worker would run it. The tests keep plain eager tasks (synchronous).
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import Celery, Task
from celery.signals import worker_init, worker_process_init

from gateway.core.process_exit import process_exit_call

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

logger = logging.getLogger("gateway.tasks")


class _BackgroundThread:
    """One thread per process that runs eager tasks in the order they came."""

    def __init__(self, name: str = "eager-tasks"):
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    def submit(self, function, *args) -> None:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # none yet, or forked
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                self._pid = os.getpid()
            self._executor.submit(self._run, function, *args)

    @staticmethod
    def _run(function, *args) -> None:
        from django.db import close_old_connections, connections

        try:
            function(*args)
        except Exception:
            logger.exception("A background task failed")
        finally:
            close_old_connections()
            connections.close_all()

    def drain(self) -> None:
        """Waits for every task handed over so far (at exit: nothing queued is dropped)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


background = _BackgroundThread()
process_exit_call(background.drain)
# Queues whose tasks get a background thread of their own (EAGER_TASK_OWN_THREAD_QUEUES),
# as they get workers of their own in production.
_own_threads: dict[str, _BackgroundThread] = {}


def _own_thread(queue: str) -> _BackgroundThread:
    thread = _own_threads.get(queue)
    if thread is None:
        thread = _own_threads.setdefault(queue, _BackgroundThread(f"eager-tasks-{queue}"))
        process_exit_call(thread.drain)
    return thread


class GatewayTask(Task):
    def apply_async(self, args=None, kwargs=None, **options):
        from django.conf import settings

        if self.app.conf.task_always_eager and getattr(settings, "EAGER_TASKS_IN_THREAD", False):
            queue = options.get("queue") or (settings.CELERY_TASK_ROUTES.get(self.name) or {}).get("queue")
            thread = background
            if queue in getattr(settings, "EAGER_TASK_OWN_THREAD_QUEUES", ()):
                thread = _own_thread(queue)
            thread.submit(lambda: super(GatewayTask, self).apply_async(args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)


app = Celery("gateway", task_cls=GatewayTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tracing_in_pool_child(**_kwargs) -> None:
    """Tracing, when on, in each child of the prefork pool, after its fork."""
    from gateway.core.tracing import tracing_configure

    tracing_configure()


@worker_init.connect
def _tracing_in_worker(sender=None, **_kwargs) -> None:
    """A worker without a prefork pool (solo, threads) runs tasks itself: tracing there."""
    if "prefork" in str(getattr(sender, "pool_cls", "prefork")).lower():
        return
    from gateway.core.tracing import tracing_configure

    tracing_configure()
