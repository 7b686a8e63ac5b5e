"""The studio for the classroom (issue 27), through its API: the pace of a training, the presets
of the learning rate's three regimes, and the chapter's quadratic SGD example.

Trainings really run on the shared MNIST_SAMPLE (as in ``test_studio_api.py``, whose helpers
these tests use); the pace is counted in batches over a few seconds, never timed to the
millisecond.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)

from starlette.testclient import TestClient
from test_studio_api import LONG, make_app, read_events, start, stop, wait_for

from mnist_sgd.i18n import Said
from mnist_sgd.web.studio.config import PRESETS, parse_config, parse_speed
from mnist_sgd.web.studio.quadratic import LRS, quadratic_sgd
from mnist_sgd.web.studio.trainings import Control


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[TestClient]:
    app = make_app(tmp_path_factory.mktemp("classroom"), shared_data, sample_cache)
    with TestClient(app, headers={"x-requested-with": "mnist-sgd"}) as test_client:
        yield test_client


def batches_in(client: TestClient, tid: str, seconds: float) -> int:
    """How many batches the training runs in about ``seconds`` (counted, not timed)."""
    first = wait_for(client, tid, lambda s: s["iter"] >= 1)["iter"]
    time.sleep(seconds)
    return int(client.get(f"/api/train/{tid}").json()["iter"]) - first


def test_a_paced_training_runs_about_its_speed_and_can_change_it(client: TestClient) -> None:
    tid = start(client, **LONG, speed=2)
    assert client.get(f"/api/train/{tid}").json()["speed"] == 2.0
    assert 3 <= batches_in(client, tid, 3.0) <= 9  # about 6 at 2 batches a second
    answer = client.post(f"/api/train/{tid}/speed", json={"speed": None})  # full speed
    assert answer.status_code == 202 and answer.json()["speed"] is None
    wait_for(client, tid, lambda s: s["iter"] > 200)  # hundreds a second again
    assert client.post(f"/api/train/{tid}/speed", json={"speed": 1}).status_code == 202
    paused = client.post(f"/api/train/{tid}/pause")  # pause acts while the pace holds the thread
    assert paused.status_code == 202
    held = wait_for(client, tid, lambda s: s["state"] == "paused")["iter"]
    client.post(f"/api/train/{tid}/step")  # and a step at 1 batch/s is still exactly one batch
    wait_for(client, tid, lambda s: s["iter"] == held + 1 and s["state"] == "paused")
    state = stop(client, tid)
    assert state["state"] == "stopped" and state["iter"] == held + 1
    kinds = [kind for kind, _ in read_events(client, tid)]
    assert kinds.count("speed") == 2


def test_the_pace_lets_pause_step_and_stop_through_at_once() -> None:
    """A wait of 1000 s for the next batch ends when pause, step, stop or a new speed comes."""
    for act in (
        lambda c: c.set(paused=True),
        lambda c: c.set(step=True),
        lambda c: c.set(stop=True),
        lambda c: c.set_speed(None),
    ):
        control = Control(speed=1e-3)  # below the API's slowest: a wait nobody sits out
        waiter = threading.Thread(target=control.pace, args=(time.perf_counter(),))
        waiter.start()
        time.sleep(0.05)
        assert waiter.is_alive()
        act(control)
        waiter.join(timeout=30)
        assert not waiter.is_alive()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"speed": 0}, "speed must be 1 to 1000 batches a second (null: full speed), got 0"),
        ({"speed": 5000}, "got 5000"),
        ({"speed": "fast"}, "speed must be a number of batches a second (1 to 1000) or null"),
        ({"speed": True}, "or null for full speed, got True"),
        ({}, 'send {"speed": batches a second} or {"speed": null}'),
        ({"speed": 1, "more": 2}, 'send {"speed": batches a second}'),
        ([1], 'send {"speed"'),
    ],
)
def test_a_bad_speed_is_a_422_in_one_line(client: TestClient, body: object, says: str) -> None:
    tid = start(client, epochs=1)
    answer = client.post(f"/api/train/{tid}/speed", json=body)
    assert answer.status_code == 422
    assert answer.json()["option"] == "speed"
    error = answer.json()["error"]
    assert says in error and "\n" not in error
    wait_for(client, tid, lambda s: s["state"] in ("done", "stuck", "stopped"))


def test_speed_needs_json_and_a_training(client: TestClient) -> None:
    tid = start(client, epochs=1)
    assert client.post(f"/api/train/{tid}/speed", content=b"speed=1").status_code == 415
    bad = client.post(
        f"/api/train/{tid}/speed", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert client.post("/api/train/nope/speed", json={"speed": 1}).status_code == 404
    refused = client.post("/api/train", json={"speed": "slow"})
    assert refused.status_code == 422 and refused.json()["option"] == "speed"
    wait_for(client, tid, lambda s: s["state"] in ("done", "stuck"))
    ended = client.post(f"/api/train/{tid}/speed", json={"speed": 5})  # harmless after the end
    assert ended.status_code == 202 and ended.json()["speed"] == 5


def test_parse_speed() -> None:
    assert parse_speed(None) is None and parse_speed(1) == 1.0 and parse_speed(1000) == 1000.0
    for bad in (0.5, 1000.5, float("nan"), float("inf"), "1", [1], False):
        with pytest.raises(ValueError, match="speed must be"):
            parse_speed(bad)


def test_the_presets_are_the_chapters_model_at_three_learning_rates(client: TestClient) -> None:
    presets = client.get("/api/choices").json()["presets"]
    assert presets == PRESETS and list(presets) == ["too-small", "about-right", "too-large"]
    lrs = [preset["lr"] for preset in presets.values()]
    assert lrs == sorted(lrs) and lrs[1] == 1.0  # the book's lr in the middle
    for preset in presets.values():
        config = parse_config(preset)
        assert (config.model, config.loss, config.dataset) == (
            "linear",
            "mnist_loss",
            "mnist_sample",
        )
        assert config.model_kwargs == {"std": 1.0} and 1 <= preset["speed"] <= 10


def test_the_too_large_preset_is_stuck_with_its_reason(client: TestClient) -> None:
    tid = start(client, **{**PRESETS["too-large"], "speed": None})  # the preset, at full speed
    events = read_events(client, tid)
    kinds = [kind for kind, _ in events]
    first = kinds.index("stuck")
    assert kinds[:first].count("epoch") == 1  # said after its first epoch, as it runs
    stuck = events[first][1]
    assert "the sigmoid saturates at this lr" in stuck["reason"]
    said = Said(stuck["said"]["key"], stuck["said"]["params"])  # the page says it by key
    assert said.key == "stuck.chance_sigmoid" and said.text("en") == stuck["reason"]
    assert "시그모이드가 포화됩니다" in said.text("ko")  # as preset_note.too-large promises
    assert events[-1][1]["state"] == "stuck"


def test_the_quadratic_example_as_the_book_prints_it(client: TestClient) -> None:
    answer = client.get("/api/quadratic", params={"lr": 1e-5, "steps": 10})
    assert answer.status_code == 200
    book = answer.json()
    assert book["time"] == list(range(20)) and len(book["speed"]) == 20
    assert [s["step"] for s in book["steps"]] == list(range(11))
    losses = [s["loss"] for s in book["steps"]]
    assert losses == sorted(losses, reverse=True)  # the book's lr: the loss falls every step
    assert losses[-1] < losses[0] / 20
    first = book["steps"][0]
    a, b, c = first["params"]
    assert first["preds"] == pytest.approx([a * t * t + b * t + c for t in range(20)], rel=1e-5)
    mse = sum((p - s) ** 2 for p, s in zip(first["preds"], book["speed"], strict=True)) / 20
    assert first["loss"] == pytest.approx(mse, rel=1e-5)
    assert quadratic_sgd(1e-5, 10) == book  # seeded: the same each time


def test_three_learning_rates_three_outcomes(client: TestClient) -> None:
    small, right, large = (
        client.get("/api/quadratic", params={"lr": lr, "steps": 20}).json() for lr in LRS
    )
    assert small["speed"] == right["speed"] == large["speed"]  # the same points
    assert small["steps"][0] == right["steps"][0] == large["steps"][0]  # and the same start
    loss = {
        name: [s["loss"] for s in r["steps"]]
        for name, r in (("small", small), ("right", right), ("large", large))
    }
    assert loss["small"][-1] > loss["small"][0] / 2  # too small: hardly moved in 20 steps
    assert loss["right"][-1] < loss["right"][0] / 20  # the book's: fitted
    large = loss["large"]
    assert all(b > a for a, b in itertools.pairwise(large))  # too large: grows
    huge = client.get("/api/quadratic", params={"lr": 1, "steps": 100}).json()
    assert huge["steps"][-1]["loss"] is None  # overflowed: null, not a broken JSON


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "say which learning rate: GET /api/quadratic?lr=1e-5"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"lr": 0}, "lr must be a number > 0 and <= 1, got 0"),
        ({"lr": 2}, "lr must be a number > 0 and <= 1, got 2"),
        ({"lr": "nan"}, "lr must be a number > 0"),
        ({"lr": 1e-5, "steps": 0}, "steps must be 1 to 1000, got 0"),
        ({"lr": 1e-5, "steps": 1001}, "steps must be 1 to 1000, got 1001"),
        ({"lr": 1e-5, "steps": 1.5}, "steps must be an integer, got '1.5'"),
        ({"lr": 1e-5, "seed": -1}, "seed must be 0 or more"),
    ],
)
def test_bad_quadratic_values_are_a_400_in_one_line(
    client: TestClient, params: dict[str, object], says: str
) -> None:
    answer = client.get("/api/quadratic", params=params)
    assert answer.status_code == 400
    assert says in answer.json()["error"] and "\n" not in answer.json()["error"]
