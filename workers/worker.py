"""The RQ worker class Herald runs: the app is built once, before jobs are forked.

RQ forks a work-horse per job; without this each job would build the Flask app anew
(~0.7 s), which dominated small jobs such as the tracking drain.
"""

from rq import Worker

from workers.jobs import _app


class HeraldWorker(Worker):
    def work(self, *args, **kwargs):
        _app()  # no database or Redis connection is opened here, so nothing is shared across the fork
        return super().work(*args, **kwargs)
