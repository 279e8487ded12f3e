"""Work a process must do as it ends, Granian's server workers included.

Granian runs its workers as multiprocessing children, and a multiprocessing
child ends with os._exit: atexit hooks never run there, only
multiprocessing's own finalizers. Those also run at a plain interpreter exit
(multiprocessing registers them with atexit), so one registration here covers
every process: the web workers, the relay, the Celery workers, manage.py.
What was lost before (issue #28): a worker's last batch of spans, and under
`make run` the tasks still queued on its background thread.
"""

from __future__ import annotations

import multiprocessing.util
from collections.abc import Callable


def process_exit_call(function: Callable, *args) -> None:
    """Calls function(*args) when this process ends (the last registered first)."""
    multiprocessing.util.Finalize(None, function, args=args, exitpriority=10)
