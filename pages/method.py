"""Method: what featviz optimizes and why each ingredient is there, with small live examples."""

from __future__ import annotations

import streamlit as st

from featviz_core.settings.declarations import tail_words
from featviz_ui import examples, model_choice
from featviz_ui.shell import require_entry_point

require_entry_point()

st.title("Method")
st.markdown(
    "A trained network is a fixed function from images to activations. **Activation maximization** turns "
    "the question around: instead of asking how a unit responds to a given photo, it searches for the "
    "image that makes the unit respond as strongly as possible. The network's weights stay frozen; only "
    "the pixels change, by gradient ascent on the unit's activation."
)

st.subheader("The objective")
st.markdown("For layer $l$ and channel $k$, the objective is the channel's activation averaged over all "
            "spatial positions of the layer's output:")
st.latex(r"a_{l,k}(x) = \frac{1}{HW} \sum_{i=1}^{H} \sum_{j=1}^{W} f_{l}(x)_{k,i,j}")
st.markdown("Maximizing it alone tends to produce high-frequency patterns that excite the unit without "
            "looking like anything. Two optional penalties push back, weighted by the **TV weight** and "
            "the **L2 weight** in the Explorer:")
st.latex(r"x^{*} = \arg\max_{x} \; a_{l,k}(x) \;-\; \lambda_{\mathrm{TV}}\,\mathrm{TV}(x) "
         r"\;-\; \lambda_{L2}\,\lVert x \rVert_2^2")
st.latex(r"\mathrm{TV}(x) = \sum_{i,j} \lvert x_{i+1,j} - x_{i,j} \rvert + \lvert x_{i,j+1} - x_{i,j} \rvert")
st.markdown(
    "Total variation (TV) charges for every jump between neighbouring pixels, so it discourages noise; the "
    "L2 term keeps pixel values from running away. featviz takes one Adam step per iteration (learning "
    "rate 0.05 by default, as Lucid) on all images of a render at once; each image has its own channel, and "
    "the loss is a sum, so images in a batch do not influence one another. The Explorer's **Fast** preset "
    f"takes NAdam (Adam with Nesterov momentum) at 0.1 instead, with the rate {tail_words()}: it reaches "
    "the 512-step images' quality in far fewer steps (BENCHMARKS.md)."
)

st.subheader("Three ingredients that make the images readable")
st.markdown(
    "1. **Fourier parameterization.** The optimized numbers are the image's spatial frequencies, scaled "
    "by $1/f$ like the spectrum of natural photographs, then turned into pixels by an inverse FFT. A step "
    "in this space changes broad structure more than fine detail, so the optimization stops favouring "
    "pixel-level noise.\n"
    "2. **Color decorrelation.** The three optimized color channels are mapped to RGB by a fixed matrix "
    "(a square root of the color correlation matrix of ImageNet photos), so each optimized channel varies "
    "independently in natural images, and colors stop drifting to saturated extremes.\n"
    "3. **Transformation robustness.** Before every step the image is padded, shifted, scaled and rotated "
    "by small random amounts. A pattern survives only if it excites the unit wherever it lands, which "
    "rules out fragile, adversarial detail."
)

st.markdown("**Same random numbers, two parameterizations.** Read as pixels they are white noise; read as a "
            "$1/f$-scaled spectrum they are soft clouds, the kind of image optimization starts from in "
            "Fourier space.")
noise = examples.random_images()
st.image(list(noise.values()), caption=list(noise), width=192)

model = model_choice.current_model()
from featviz_core.models import get_spec  # noqa: E402  (torch-heavy: imported when the page runs)

spec = get_spec(model)


def _deep_channels(name: str, layer: str) -> int:
    return next(info.channels for info in model_choice.layers(name) if info.name == layer)


channel_count = next(info.channels for info in model_choice.layers(model) if info.name == spec.default_layer)
st.markdown(f"**One channel, three recipes.** A channel of `{spec.default_layer}` in {spec.title}, "
            f"{examples.EXAMPLE_SIZE} px, only {examples.EXAMPLE_STEPS} steps, so it computes in seconds "
            "(the Explorer uses 512). The number is the channel's objective on the final image.")
channel = st.columns([1, 3])[0].number_input("Channel for the examples", min_value=0, max_value=channel_count - 1,
                                             value=0, step=1, key="me_channel")
with st.spinner("Rendering three tiny examples ..."):
    tiny = examples.tiny_renders(model, spec.default_layer, int(channel))
st.image([image for _, image, _ in tiny], caption=[f"{name} · objective {score:.2f}" for name, _, score in tiny],
         width=192)
st.caption("A higher objective is not a better picture: without transforms the optimization may find "
           "patterns that excite the channel only at one exact position and scale.")

deep = examples.deep_layer(model)
st.markdown(f"**MACO beside Fourier on a deep layer.** Channel {int(channel)} of `{deep}`, same size, steps and "
            "seed. MACO (Fel et al. 2023) optimizes only the phase of the image's spectrum and keeps its magnitude "
            "fixed to a natural-image spectrum (a 1/f power law here), so deep layers cannot push the image into "
            "high-frequency noise; it runs its paper's optimizer, NAdam at learning rate 1.0 (Fourier: Adam at "
            "0.05). Its attribution map sums the gradient's size over all steps: bright where "
            "the objective relied on the image.")
with st.spinner("Rendering Fourier and MACO ..."):
    pair = examples.maco_beside_fourier(model, min(int(channel), _deep_channels(model, deep) - 1))
st.image([image for _, image, _ in pair],
         caption=[name if score != score else f"{name} · objective {score:.2f}" for name, _, score in pair], width=192)

st.subheader("Transform settings")
from featviz_core.settings.transform_presets import PRESETS  # noqa: E402

rows = []
for name, preset in PRESETS.items():
    rows.append({"preset": name, "pad (px)": preset.pad, "jitter (px)": preset.jitter,
                 "scales": f"{min(preset.scales):g} to {max(preset.scales):g}",
                 "rotation (degrees)": f"{min(preset.angles):g} to {max(preset.angles):g}",
                 "second jitter (px)": preset.jitter_after})
st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("References")
st.markdown(
    "- Olah, Mordvintsev, Schubert (2017). [Feature Visualization](https://distill.pub/2017/feature-visualization/). "
    "Distill.\n"
    "- Olah, Cammarata, Schubert, Goh, Petrov, Carter (2020). "
    "[Zoom In: An Introduction to Circuits](https://distill.pub/2020/circuits/zoom-in/). Distill.\n"
    "- Mordvintsev, Pezzotti, Schubert, Olah (2018). "
    "[Differentiable Image Parameterizations](https://distill.pub/2018/differentiable-parameterizations/). "
    "Distill."
    "\n- Fel, Boissin, Boutin, Picard, Novello, Colin, Linsley, Rousseau, Cadène, Goetschalckx, Gardes, Serre "
    "(2023). [Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization]"
    "(https://arxiv.org/abs/2306.06805). NeurIPS."
)
