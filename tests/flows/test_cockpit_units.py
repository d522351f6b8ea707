"""Pure pieces of the cockpit: the reward-curve artifact (chart + the CLI's labels, integer steps), the eval
report's relative links made browser links, and the nearest-neighbour pictures of a video."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from flows.artifacts import eval_report_key, report_markdown
from flows.audit_tables import curve_image_markdown
from plotline.audit.media import filmstrip, gif_bytes, png_bytes, upscale


def test_curve_artifact_has_the_chart_and_the_cli_labels_per_integer_step():
    metrics = {
        0: {"advantage.reward[executor]": 0.25, "score.score[step]": 0.5},
        1: {"advantage.reward[executor]": 0.375},
    }
    md = curve_image_markdown("r1", metrics, "http://127.0.0.1:1/r1/_media/reward_curves.png")
    assert "![reward curves of run r1](http://127.0.0.1:1/r1/_media/reward_curves.png)" in md
    assert "| step | R_exec (executor reward) | step-following judge |" in md
    assert "| 0 | 0.250 | 0.500 |" in md and "| 1 | 0.375 |  |" in md
    assert "| 0.0 |" not in md and "Every per-step mean" in md


def test_eval_report_links_point_at_the_served_files():
    files = [
        SimpleNamespace(name="report.md", path="attempt-x/report.md"),
        SimpleNamespace(name="plots/tf_score.png", path="attempt-x/plots/tf_score.png"),
    ]
    text = "# Eval\n\n![tf](plots/tf_score.png)\n[elsewhere](https://example.org/a)\n[missing](nope.png)\n"
    art = SimpleNamespace(
        uri="/store/r1/step=000000/evaluate/v0000",
        manifest=SimpleNamespace(files=files),
        read_bytes=lambda name: text.encode(),
    )
    md = report_markdown(art, lambda uri: "http://h" + uri)
    assert "![tf](http://h/store/r1/step=000000/evaluate/v0000/attempt-x/plots/tf_score.png)" in md
    assert "[elsewhere](https://example.org/a)" in md and "[missing](nope.png)" in md
    assert eval_report_key("My_Run") == "my-run-eval-report"


def test_pictures_are_nearest_neighbour_enlargements():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    big = upscale(frames, 3)
    assert big.shape == (3, 12, 15, 3)
    assert (big[1, 3:6, 6:9] == frames[1, 1, 2]).all()  # every pixel a 3x3 block of its colour
    strip = filmstrip(frames, scale=2, gap=1)
    assert strip.shape == (8, 3 * 10 + 2, 3)
    assert (strip[:, 10] == 255).all() and (strip[:, 11:21] == upscale(frames, 2)[1]).all()
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(png_bytes(strip))).size == (32, 8)
    gif = Image.open(io.BytesIO(gif_bytes(frames, scale=8)))
    assert gif.size == (40, 32) and gif.n_frames == 3


def test_a_worker_refuses_a_relative_store_root():
    import pytest

    from flows.worker_checks import RelativeStoreRoot, check_worker_storage
    from plotline.config import load_config

    relative = load_config(overrides=["storage.root=runs"])
    check_worker_storage(relative, "runs/demo", from_deployment=False)  # the CLI in a checkout: fine
    with pytest.raises(RelativeStoreRoot, match=r"storage.root='runs' is a relative path.*temporary"):
        check_worker_storage(relative, None, from_deployment=True)  # the run folder would be runs/<run_name>
    with pytest.raises(RelativeStoreRoot, match=r"run_uri='runs/demo'"):
        check_worker_storage(relative, "runs/demo", from_deployment=True)
    check_worker_storage(relative, "/data/runs/demo", from_deployment=True)  # an absolute run folder is used as is
    check_worker_storage(load_config(overrides=["storage.root=/data/runs"]), None, from_deployment=True)
    check_worker_storage(load_config(overrides=["storage.root=s3://b/runs"]), None, from_deployment=True)
