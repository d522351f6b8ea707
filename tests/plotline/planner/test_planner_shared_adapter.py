"""openai planner backend: the adapter path sent to the server is one it can read (a shared volume), checked
before any request; a private download-cache path is refused with the key to set."""

import pytest

from plotline.planner.backends import BackendContext, make_backend
from plotline.planner.config import PlannerConfig, PlannerOpenAIConfig
from plotline.planner.errors import PlannerError
from plotline.planner.model import adapter_version, load_tokenizer
from plotline.planner.sampling import Instruction, sample_plans
from tests.scripted_openai import ScriptedChat


@pytest.fixture
def server():
    with ScriptedChat(lambda body: '["The square moves.", "The square grows."]') as srv:
        yield srv, srv.url


def _cfg(url, base, **openai):
    return PlannerConfig(
        backend="openai",
        base_model=base,
        num_plans=1,
        max_new_tokens=40,
        openai=PlannerOpenAIConfig(base_url=url, max_retries=0, **openai),
    )


def test_private_cache_adapter_without_shared_dir_is_refused_before_any_request(server, tiny_planner_paths):
    srv, url = server
    base, cold = map(str, tiny_planner_paths)
    tok = load_tokenizer(base)
    with pytest.raises(PlannerError, match=r"download cache .* cannot read: set planner\.openai\.shared_adapter_dir"):
        make_backend(
            "openai",
            BackendContext(_cfg(url, base), tok, adapter_version(cold), adapter_path=cold, adapter_private=True),
        )
    with pytest.raises(PlannerError, match=r"planner\.openai\.shared_adapter_dir '.*/absent' is not a directory"):
        make_backend(
            "openai",
            BackendContext(
                _cfg(url, base, shared_adapter_dir=str(tiny_planner_paths[1].parent / "absent")),
                tok,
                adapter_version(cold),
                adapter_path=cold,
                adapter_private=True,
            ),
        )
    assert srv.calls == []


def test_adapter_is_published_on_the_shared_volume_and_loaded_from_the_servers_mount(
    server, tiny_planner_paths, tmp_path
):
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
    load = [b for p, _, b in srv.calls if p.endswith("/load_lora_adapter")]
    assert load == [{"lora_name": name, "lora_path": f"/mnt/adapters/{name}"}]
    # the same version again: the published copy is reused
    make_backend("openai", BackendContext(cfg, tok, version, adapter_path=cold, adapter_private=True))
    assert sorted(p.name for p in shared.iterdir()) == [name]
