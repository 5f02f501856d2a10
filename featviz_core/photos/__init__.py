"""A visitor's photo: checking and decoding an upload (:mod:`.uploads`), keeping it in memory by the digest
of its pixels (:mod:`.store`), and which channels of a layer it excites most (:mod:`.analysis`, which runs
the model: import it by its own name).
"""
