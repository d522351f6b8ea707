#!/bin/sh
# Start vLLM's OpenAI-compatible server for one plotline model (planner or judge), configured by environment:
#   MODEL (required)          model directory inside the container, e.g. /models/planner
#   SERVED_MODEL_NAME         name clients send as `model` (default: the directory name)
#   HOST, PORT                bind address (default 0.0.0.0:8000 inside the container)
#   GPU_MEMORY_UTILIZATION    fraction of GPU memory vLLM may take (default 0.9)
#   MAX_MODEL_LEN             context length cap (optional)
#   TENSOR_PARALLEL_SIZE      GPUs per server (default 1)
#   ENABLE_LORA=1             serve LoRA adapters; runtime loading via /v1/load_lora_adapter is switched on
#   MAX_LORAS, MAX_LORA_RANK  adapters resident at once (default 4) and the largest rank (default 32)
#   LORA_MODULES              adapters to load at start, space-separated name=path pairs (optional)
# Extra arguments (the container's command) are passed to `vllm serve` unchanged.
set -eu

: "${MODEL:?set MODEL to the model directory inside the container, e.g. /models/planner}"

set -- "$MODEL" \
  --host "${HOST:-0.0.0.0}" \
  --port "${PORT:-8000}" \
  --served-model-name "${SERVED_MODEL_NAME:-$(basename "$MODEL")}" \
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.9}" \
  --tensor-parallel-size "${TENSOR_PARALLEL_SIZE:-1}" \
  "$@"

if [ -n "${MAX_MODEL_LEN:-}" ]; then
  set -- "$@" --max-model-len "$MAX_MODEL_LEN"
fi

if [ "${ENABLE_LORA:-0}" = "1" ]; then
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
  export VLLM_ALLOW_RUNTIME_LORA_UPDATING
  set -- "$@" --enable-lora --max-loras "${MAX_LORAS:-4}" --max-lora-rank "${MAX_LORA_RANK:-32}"
  if [ -n "${LORA_MODULES:-}" ]; then
    set -- "$@" --lora-modules
    for module in $LORA_MODULES; do
      set -- "$@" "$module"
    done
  fi
fi

exec vllm serve "$@"
