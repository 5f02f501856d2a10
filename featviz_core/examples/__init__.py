"""Dataset examples: for every channel of whole layers, the images of a folder that excite it most and least.

``python -m featviz_core examples --model M --layers L --images DIR --top K --out STORE`` streams every image
of DIR once through the model (batched, at the model's input size, stopping at the deepest layer) and keeps,
per channel, the K images with the highest and the K with the lowest mean activation (the channel
objective's score), with the position where the channel fires most (least, for the bottom ones), a box
around it in the image's own pixels, and the spatial activation map.

- :mod:`.folder`: listing, digest and safe decoding of the folder's images, and where the model's view lies
  in each image.
- :mod:`.topk`: the running top-K state and its exact, order-independent merge.
- :mod:`.scan`: one chunk of images through the model -> a partial state (the unit of work of both engines).
- :mod:`.ray_engine`: chunks on Ray actors.
- :mod:`.store`: identity, atomic checkpoints and the finished store (``examples.json``, crops, maps).
- :mod:`.runner`: the driver; yields progress, never prints.
- :mod:`.lookup` / :mod:`.heatmap`: what the app reads and draws (no model is loaded there); :mod:`.check`:
  a finished store's examples.json checked once when the app opens it (a damaged store is skipped).
- :mod:`.archive`: a visitor's zip of images, checked and unpacked with hard bounds (hostile zips refused).
- :mod:`.upload`: a zip's examples of one layer as a request the render service queues, into a store the
  app finds, reused when the same zip comes again.

Nothing here imports torch at module import.

Layer (checked by tests/test_layout.py): may import errors, config, device, models, photos, atlas; torch at module
level: no.
"""

from featviz_core.errors import FeatvizError


class ExamplesError(FeatvizError):
    """An examples run or store was refused; the message says why and what to do."""


__all__ = ["ExamplesError"]
