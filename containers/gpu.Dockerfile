# syntax=docker/dockerfile:1
# plotline GPU image: CUDA torch (same version) + the same pins as the CPU image. The CUDA runtime comes inside
# the torch wheels; the driver comes from the host through the NVIDIA container toolkit (`--gpus`, or the
# device requests of the docker work pool / nvidia.com/gpu of the Kubernetes pool).
# Stage entrypoint: `plotline stage ...`. Build from the repository root:
#   docker build -f containers/gpu.Dockerfile -t plotline-gpu:0.1.0 \
#       --build-arg PIP_INDEX_URL=<package index> --build-arg TORCH_INDEX_URL=<CUDA torch wheel index> .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG TORCH_INDEX_URL
ARG TORCH_VERSION=2.13.0
ARG PLOTLINE_EXTRAS=serving

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    GX_ANALYTICS_ENABLED=false \
    HF_HUB_OFFLINE=1 \
    PLOTLINE_HOME=/opt/plotline \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin plotline

WORKDIR /opt/plotline

# The CUDA build of the pinned torch version; the constraints' torch==2.13.0 is then already satisfied
# (a local version label such as +cu128 matches ==2.13.0).
RUN if [ -z "${TORCH_INDEX_URL:-}" ]; then \
      echo "build with --build-arg TORCH_INDEX_URL=<CUDA torch wheel index>" >&2; exit 1; \
    fi \
 && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && python -c "import torch; assert torch.version.cuda, 'torch ' + torch.__version__ + ' is not a CUDA build'"

COPY . .
RUN pip install --no-cache-dir -c constraints.txt ".[${PLOTLINE_EXTRAS}]" \
 && plotline stage --list > /dev/null

USER 10001
ENTRYPOINT ["tini", "--", "plotline"]
CMD ["stage", "--list"]
