# syntax=docker/dockerfile:1
# plotline model server: vLLM's OpenAI-compatible server for the planner (LoRA adapters hot-loaded at runtime
# through /v1/load_lora_adapter) and for the judges. vLLM lives here, in its own environment: it cannot share
# plotline's (DESIGN §9); plotline talks to it over HTTP. Build from the repository root:
#   docker build -f containers/model-server.Dockerfile -t plotline-model-server:0.1.0 \
#       --build-arg PIP_INDEX_URL=<package index> .
# Run: docker run --gpus all -e MODEL=/models/planner -e ENABLE_LORA=1 -v <weights>:/models:ro -p 127.0.0.1:8000:8000 ...
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG VLLM_VERSION=0.33.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOST=0.0.0.0 \
    PORT=8000

# gcc + libc headers: Triton compiles its kernel launchers at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vllm \
 && pip install --no-cache-dir "vllm==${VLLM_VERSION}"

COPY --chmod=0755 containers/model-server-entrypoint.sh /usr/local/bin/plotline-model-server

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=3)"]
ENTRYPOINT ["tini", "--", "/usr/local/bin/plotline-model-server"]
