"""The running job, as the panel draws it (progress bar and stage)."""

from __future__ import annotations


class ActiveJob:
    def __init__(self):
        self.job = None

    @property
    def running(self) -> bool:
        return self.job is not None

    def begin(self, job) -> None:
        self.job = job

    def end(self) -> None:
        self.job = None

    def status(self) -> tuple[float, str, str]:
        """(progress 0..1, stage, what runs) for the panel."""
        job = self.job
        if job is None:
            return 0.0, "", ""
        stage = "cancelling" if job.cancel_event.is_set() else job.stage
        return job.progress, stage, job.plan.label


ACTIVE = ActiveJob()
