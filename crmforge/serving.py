"""Several worker processes for ``crmforge serve --workers N`` (gunicorn).

Reads scale with processes once they stop contending for the write lock. The master
process forks the workers, each opening the instance after the fork; the master runs the
approval timer loop, once per deployment on this host, whatever the number of workers.
Prometheus metrics of all workers add up through ``PROMETHEUS_MULTIPROC_DIR`` (a private
folder is made when unset). A worker answering nothing for ``timeout`` seconds is
restarted: the default is above the longest metadata change (a type change on a big
table), so such a change is never killed halfway (it would roll back anyway).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from flask import Flask

#: Seconds a worker may stay silent before gunicorn restarts it.
DEFAULT_TIMEOUT = 600


_OWN_METRICS_DIR: list[str] = []


def prepare_metrics() -> bool:
    """Make the workers' metrics meet in one folder (``PROMETHEUS_MULTIPROC_DIR``; a private
    one when unset). Must run before any metric is created in the process: prometheus
    chooses per metric, when it is made, whether it lives in memory or in that folder.
    True when the folder is ours to remove."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return bool(_OWN_METRICS_DIR)
    folder = tempfile.mkdtemp(prefix="crmforge-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    _OWN_METRICS_DIR.append(folder)
    return True


def run(instance_dir: str, host: str, port: int, workers: int,
        timeout: int = DEFAULT_TIMEOUT, on_master_ready: Callable[[], Any] | None = None) -> None:
    from gunicorn.app.base import BaseApplication  # installed with CRMForge

    own_metrics = prepare_metrics()

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def when_ready(_server: Any) -> None:
        if on_master_ready is not None:
            on_master_ready()

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {"bind": f"{host}:{port}", "workers": workers, "timeout": timeout,
                        "graceful_timeout": 30, "preload_app": False,
                        "child_exit": child_exit, "when_ready": when_ready,
                        "accesslog": None}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            from . import tasks
            from .web import create_app
            app = create_app(instance_dir)
            tasks.install(app.extensions["crmforge"])  # this worker's jobs go to the queue
            return app

    try:
        _Server().run()
    finally:
        if own_metrics:
            shutil.rmtree(os.environ.pop("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)


__all__ = ["DEFAULT_TIMEOUT", "run"]
