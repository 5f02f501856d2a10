"""The render service under its first import path: ``from featviz_core.jobs import get_service, DONE, ...``
works as before. The service itself lives in :mod:`featviz_core.service`, one part per module."""

from featviz_core.service import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, RenderService, get_service

__all__ = ["CANCELLED", "DONE", "FAILED", "QUEUED", "RUNNING", "Job", "RenderService", "get_service"]
