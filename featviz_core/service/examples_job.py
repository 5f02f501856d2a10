"""What a worker does with an examples job: scan the unpacked zip of a visitor batch by batch into its store,
publishing progress, and stop between two batches when the job must stop (the store keeps its checkpoint,
so the same zip continues from there). The job's temporary folder is removed by the service when the job
ends (``RenderService._finish``), however it ends. Once the run let go of its store, the upload stores
beyond FEATVIZ_UPLOAD_EXAMPLES_MAX (used longest ago) are removed (:func:`tidy_uploads`).
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

from featviz_core.errors import FeatvizError
from featviz_core.service.job import CANCELLED, DONE, FAILED, Job
from featviz_core.service.worker import Outcome

log = logging.getLogger(__name__)


def run_examples_job(job: Job, device: torch.device, should_stop: Callable[[], str]) -> Outcome:
    """Run ``job`` (a ZipExamplesRequest whose zip is unpacked in ``job.workdir``) on ``device``, keeping
    ``job.progress`` current and setting ``job.result`` (an UploadedExamples) when the store is finished.

    Never raises: a failed run is an :class:`~.worker.Outcome` saying why.
    """
    from featviz_core.examples.upload import UploadedExamples, upload_iter

    request = job.request
    runs = None
    try:
        if job.workdir is None or not job.workdir.is_dir():
            return Outcome(FAILED, "the unpacked zip is gone; upload it again")
        runs = upload_iter(request, job.workdir, device=str(device))
        for progress in runs:
            job.progress = progress
            if progress.finished:
                listing = job.listing
                job.result = UploadedExamples(progress.path, progress.total,
                                              len(listing.skipped) if listing is not None else 0)
                return Outcome(DONE)
            reason = should_stop()
            if reason:
                return Outcome(CANCELLED, reason)
        return Outcome(FAILED, "the examples run ended before its store was finished")
    except FeatvizError as exc:
        return Outcome(FAILED, str(exc))
    except Exception as exc:  # the worker must survive anything a run does
        log.exception("examples job %s failed", job.id)
        return Outcome(FAILED, f"internal error while finding examples ({type(exc).__name__}: {exc})")
    finally:
        if runs is not None:
            runs.close()  # a stopped run saves its checkpoint and lets go of the store's lock now
        tidy_uploads(stale_folders=False)


def tidy_uploads(*, stale_folders: bool) -> None:
    """Keep the upload stores within their bound and, with ``stale_folders``, remove the temporary folders
    a killed process left; never raises (a disk that cannot be tidied must not stop the service)."""
    from featviz_core.examples.upload import prune_uploads, remove_stale_folders

    try:
        removed = prune_uploads()
        if stale_folders:
            removed += remove_stale_folders()
    except Exception as exc:
        log.warning("could not tidy the uploads' folders: %s", exc)
        return
    if removed:
        log.info("removed %d old upload store(s) or temporary folder(s)", len(removed))
