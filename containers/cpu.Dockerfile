# syntax=docker/dockerfile:1
# plotline CPU base image: the pinned environment (pyproject.toml + constraints.txt) with the CPU torch build.
# Stage entrypoint: `plotline stage ...` (the image's entrypoint is `plotline`). Build from the repository root:
#   docker build -f containers/cpu.Dockerfile -t plotline-cpu:0.1.0 \
#       --build-arg PIP_INDEX_URL=<package index> --build-arg TORCH_INDEX_URL=<CPU torch wheel index> .
# Package indexes are build arguments only: no index is written into the image or the repository.
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
    PLOTLINE_HOME=/opt/plotline

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin plotline

WORKDIR /opt/plotline

# torch first, from the CPU wheel index: a plain `torch` requirement would pull the multi-GB CUDA build.
RUN if [ -z "${TORCH_INDEX_URL:-}" ]; then \
      echo "build with --build-arg TORCH_INDEX_URL=<CPU torch wheel index>" >&2; exit 1; \
    fi \
 && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && python -c "import torch; assert not torch.version.cuda, 'torch ' + torch.__version__ + ' is a CUDA build'"

COPY . .
RUN pip install --no-cache-dir -c constraints.txt ".[${PLOTLINE_EXTRAS}]" \
 && plotline stage --list > /dev/null

USER 10001
ENTRYPOINT ["tini", "--", "plotline"]
CMD ["stage", "--list"]
