"""A visitor's photo: checking and decoding an upload (:mod:`.uploads`), keeping it in memory by the digest
of its pixels (:mod:`.store`), and which channels of a layer it excites most (:mod:`.analysis`).

Its modules are its public names (``__all__``): import them by name (:mod:`.uploads` and :mod:`.store` need
no torch; :mod:`.analysis` runs the model).

Layer (checked by tests/test_layout.py): may import errors, config, device, models; torch at module level: yes.
"""

__all__ = ["analysis", "store", "uploads"]
