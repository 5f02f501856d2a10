"""Lucid's method as tensor functions: what turns parameters into the images a model sees.

Modules: :mod:`.param` (Fourier or pixel images, color decorrelation), :mod:`.transforms` (random jitter,
scale, rotation as one resample) and :mod:`.lucent_transforms` (Lucent's chain, operation by operation),
:mod:`.alpha` (transparent images over random backgrounds), :mod:`.diversity` (Lucid's diversity term),
:mod:`.interpolation` (frames between two channels sharing a parameterization), :mod:`.photo_start`
(starting from a photo, and the pull toward it), :mod:`.maco` (MACO: only the Fourier phase is optimized under
a natural-image magnitude; a folder's average spectrum is decoded as photos are, hence ``photos``). Used by the render loop (``featviz_core.render``) and the
Method page's examples.

Its modules are its public names (``__all__``): import them by name.

Layer (checked by tests/test_layout.py): may import errors, settings, photos; torch at module level: yes.
"""

__all__ = [
    "alpha", "diversity", "interpolation", "lucent_transforms", "maco", "param", "photo_start", "transforms",
]
