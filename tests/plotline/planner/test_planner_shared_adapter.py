"""openai planner backend: the adapter path sent to the server is one it can read (a shared volume), checked
before any request; a private download-cache path is refused with the key to set."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plotline.planner.backends import BackendContext, make_backend
from plotline.planner.config import PlannerConfig, PlannerOpenAIConfig
from plotline.planner.errors import PlannerError
from plotline.planner.model import adapter_version, load_tokenizer
from plotline.planner.sampling import Instruction, sample_plans


class _Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.server.seen.append((self.path, body))
        reply = {"ok": True} if self.path.endswith("/load_lora_adapter") else {
            "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": '["The square moves.", "The square grows."]'}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def _cfg(url, base, **openai):
    return PlannerConfig(backend="openai", base_model=base, num_plans=1, max_new_tokens=40,
                         openai=PlannerOpenAIConfig(base_url=url, max_retries=0, **openai))


def test_private_cache_adapter_without_shared_dir_is_refused_before_any_request(server, tiny_planner_paths):
    srv, url = server
    base, cold = map(str, tiny_planner_paths)
    tok = load_tokenizer(base)
    with pytest.raises(PlannerError, match=r"download cache .* cannot read: set planner\.openai\.shared_adapter_dir"):
        make_backend("openai", BackendContext(_cfg(url, base), tok, adapter_version(cold), adapter_path=cold,
                                              adapter_private=True))
    with pytest.raises(PlannerError, match=r"planner\.openai\.shared_adapter_dir '.*/absent' is not a directory"):
        make_backend("openai", BackendContext(_cfg(url, base, shared_adapter_dir=str(tiny_planner_paths[1].parent / "absent")),
                                              tok, adapter_version(cold), adapter_path=cold, adapter_private=True))
    assert srv.seen == []


def test_adapter_is_published_on_the_shared_volume_and_loaded_from_the_servers_mount(server, tiny_planner_paths,
                                                                                     tmp_path):
    srv, url = server
    base, cold = map(str, tiny_planner_paths)
    tok = load_tokenizer(base)
    version = adapter_version(cold)
    shared = tmp_path / "shared"
    shared.mkdir()
    cfg = _cfg(url, base, shared_adapter_dir=str(shared), shared_adapter_dir_on_server="/mnt/adapters")
    backend = make_backend("openai", BackendContext(cfg, tok, version, adapter_path=cold, adapter_private=True))
    name = f"plotline-planner-{version}"
    copy = shared / name
    assert (copy / "adapter_config.json").read_bytes() == (tiny_planner_paths[1] / "adapter_config.json").read_bytes()
    assert not [p for p in shared.iterdir() if p.name.startswith(".")]  # no half-written temporary left
    (r,) = sample_plans(backend, tok, [Instruction("x", "a red square moves right, then grows")], cfg, 2, seed=0)
    assert r.error is None
    load = [b for p, b in srv.seen if p.endswith("/load_lora_adapter")]
    assert load == [{"lora_name": name, "lora_path": f"/mnt/adapters/{name}"}]
    # the same version again: the published copy is reused
    make_backend("openai", BackendContext(cfg, tok, version, adapter_path=cold, adapter_private=True))
    assert sorted(p.name for p in shared.iterdir()) == [name]
