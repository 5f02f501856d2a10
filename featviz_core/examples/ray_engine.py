"""The Ray engine for examples: chunks spread over Ray actors, each holding the model once.

The atlas's pattern (:mod:`featviz_core.atlas.ray_engine`): actors built once (again after a restart,
``max_restarts``), chunks as actor tasks through ``ray.util.ActorPool`` retried by Ray when a worker dies
(``max_task_retries=-1``). The driver reads each chunk's files and sends their bytes, so workers need no
access to the folder; it merges the partial states (an exact, order-independent merge) and writes the store.
"""

from __future__ import annotations

from typing import Iterator

from featviz_core.atlas.ray_engine import RayEngineBase
from featviz_core.examples import ExamplesError
from featviz_core.examples.scan import Chunk, ChunkOutput, ChunkScanner


class ExamplesWorker:
    """The Ray actor: a :class:`ChunkScanner`; a constructor error is kept and reported by :meth:`ready`."""

    def __init__(self, identity, device: str | None, threads: int | None) -> None:
        self.error = ""
        self.scanner: ChunkScanner | None = None
        try:
            self.scanner = ChunkScanner(identity, device=device, threads=threads)
        except Exception as exc:  # reported by ready(): one line, not a dead-actor traceback
            self.error = " ".join(str(exc).split()) or type(exc).__name__

    def ready(self) -> dict:
        return {"error": self.error} if self.scanner is None else dict(self.scanner.worker)

    def scan(self, chunk: Chunk) -> ChunkOutput:
        if self.scanner is None:
            raise ExamplesError(self.error)
        return self.scanner(chunk)


class RayEngine(RayEngineBase):
    """Chunks on Ray actors: a local cluster when ``address`` is empty, else the cluster at ``address``.

    The arguments, their checks, joining or starting the cluster and feeding the actors are the atlas
    engine's (:class:`featviz_core.atlas.ray_engine.RayEngineBase`); refusals here are ExamplesErrors.
    """

    error = ExamplesError
    device = None

    def run(self, identity, indices: list[int], read) -> Iterator[ChunkOutput]:
        """Yield each chunk's output as it finishes (in any order); ``read(index)`` gives its bytes, read when
        the chunk is handed to an actor."""
        if not self._actors:
            self._spawn_actors(ExamplesWorker, identity, cannot="scan")
        yield from self._outputs(indices, lambda actor, index: actor.scan.remote(read(index)))
