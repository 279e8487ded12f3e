"""EAGER_TASKS_IN_THREAD (make run's default without a broker): a task leaves
the request and runs on the process's background thread, in order, and nothing
handed over is dropped at exit (gateway/celery.py)."""

import threading

from gateway.celery import app, background

released = threading.Event()
ran: list[tuple[str, int]] = []


@app.task(name="tests.eager_thread_probe")
def probe(number: int) -> None:
    released.wait(timeout=10)
    ran.append((threading.current_thread().name, number))


def test_a_task_runs_after_the_call_returns_on_the_background_thread(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EAGER_TASKS_IN_THREAD = True
    released.clear()
    ran.clear()

    for number in (1, 2, 3):
        assert probe.delay(number) is None  # handed over: the caller does not wait
    assert ran == []  # still blocked: it did not run in the caller
    released.set()
    background.drain()

    assert [number for _, number in ran] == [1, 2, 3]
    assert all(name.startswith("eager-tasks") for name, _ in ran)


def test_without_the_setting_eager_tasks_stay_synchronous(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EAGER_TASKS_IN_THREAD = False
    released.set()
    ran.clear()

    probe.delay(7)

    assert ran == [(threading.current_thread().name, 7)]
