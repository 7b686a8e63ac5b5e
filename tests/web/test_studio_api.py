"""The studio's JSON API (issue 12): every route, limit and bad input, on real MNIST_SAMPLE.

Trainings really run (``RunTrainer`` in worker threads) on the shared local
copy of MNIST_SAMPLE; the app is driven through Starlette's TestClient, which
runs its lifespan, so leaving the client stops every training as Ctrl-C would.
"""

from __future__ import annotations

import gc
import json
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)

from starlette.testclient import TestClient

from mnist_sgd import runs
from mnist_sgd.web.studio.events import EventLog

LONG = {"epochs": 500}  # runs until a test stops it


def make_app(root: Path, shared_data: Path, cache: Path, **kwargs: Any) -> Any:
    from mnist_sgd.datasets import DataOptions
    from mnist_sgd.web import create_studio_app

    options = DataOptions(mirror=str(shared_data), cache_dir=cache, offline=True)
    return create_studio_app(root / "runs", data_options=options, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[TestClient]:
    app = make_app(tmp_path_factory.mktemp("studio"), shared_data, sample_cache)
    with TestClient(app, headers={"x-requested-with": "mnist-sgd"}) as test_client:
        yield test_client


def wait_for(
    client: TestClient, tid: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> dict[str, Any]:
    """Poll ``GET /api/train/{tid}`` until ``ok(state)``; that state."""
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/api/train/{tid}").json()
        if ok(state):
            return state
        assert time.monotonic() < deadline, f"timed out; last state: {state}"
        time.sleep(0.05)


def start(client: TestClient, **options: Any) -> str:
    response = client.post("/api/train", json=options)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(state: dict[str, Any]) -> bool:
    return state["state"] in ("done", "stopped", "stuck", "diverged", "error")


def stop(client: TestClient, tid: str) -> dict[str, Any]:
    client.post(f"/api/train/{tid}/stop")
    return wait_for(client, tid, finished)


def read_events(client: TestClient, tid: str, after: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the stream up to ``done``/``error`` (the stream ends there)."""
    events, kind = [], ""
    with client.stream("GET", f"/api/train/{tid}/events?after={after}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


def test_a_training_writes_a_normal_run_folder(client: TestClient) -> None:
    response = client.post("/api/train", json={"epochs": 2, "lr": 1.0, "bs": 256})
    assert response.status_code == 202
    tid = response.json()["id"]
    assert response.headers["location"] == f"/api/train/{tid}"
    state = wait_for(client, tid, finished)
    assert state["state"] == "done" and state["epoch"] == 2 and state["error"] is None
    run_dir = Path(state["run_dir"])
    history = runs.read_history(run_dir)
    assert [set(r) for r in state["history"]] == [set(r) for r in history]
    assert state["history"][-1]["batch_accuracy"] == pytest.approx(history[-1]["batch_accuracy"])
    assert runs.read_run_info(run_dir)["status"] == "done"
    loaded = runs.load_run(run_dir)
    assert loaded.initial_state() is not None  # init.safetensors, for the change pictures
    with Image.open(run_dir / "plots" / "history.png") as curves:  # as a CLI run has them
        assert curves.format == "PNG" and min(curves.size) >= 200
    assert state["iter"] == 2 * state["batches_per_epoch"]
    assert any(t["id"] == tid for t in client.get("/api/train").json())


def test_events_stream_batches_epochs_and_done(client: TestClient) -> None:
    tid = start(client, epochs=2)
    events = read_events(client, tid)
    kinds = [kind for kind, _ in events]
    state = client.get(f"/api/train/{tid}").json()
    assert kinds.count("batch") == 2 * state["batches_per_epoch"]
    assert kinds.count("epoch") == 2 and kinds[-1] == "done"
    assert "stuck" not in kinds and state["stuck"] is None and state["state"] == "done"
    batch = next(data for kind, data in events if kind == "batch")
    assert {"epoch", "iter", "loss", "lr", "bps", "t"} <= set(batch) and batch["loss"] > 0
    assert [data for kind, data in events if kind == "epoch"] == state["history"]
    assert events[-1][1]["run_dir"] == state["run_dir"]
    # a late client that saw event 5 gets only the rest
    later = read_events(client, tid, after=5)
    assert len(later) == len(events) - 5 and later[-1] == events[-1]


def test_events_bad_after_and_unknown_training(client: TestClient) -> None:
    tid = start(client, epochs=1)
    assert client.get(f"/api/train/{tid}/events?after=-3").status_code == 400
    wait_for(client, tid, finished)
    for path in ("", "/events", "/weights", "/digits", "/step"):
        response = client.get(f"/api/train/nosuch{path}")
        assert response.status_code == 404 and "no training 'nosuch'" in response.json()["error"]
    assert client.post("/api/train/nosuch/pause").status_code == 404


def test_pause_holds_still_and_step_runs_exactly_one_batch(client: TestClient) -> None:
    tid = start(client, **LONG)
    wait_for(client, tid, lambda s: s["state"] == "running" and s["iter"] > 0)
    assert client.post(f"/api/train/{tid}/pause").status_code == 202
    paused = wait_for(client, tid, lambda s: s["state"] == "paused")
    time.sleep(0.5)
    assert client.get(f"/api/train/{tid}").json()["iter"] == paused["iter"]  # no batch runs
    assert client.get(f"/api/train/{tid}/step").status_code == 404  # not stepped yet
    assert client.post(f"/api/train/{tid}/step").status_code == 202
    stepped = wait_for(client, tid, lambda s: s["state"] == "paused" and s["iter"] > paused["iter"])
    time.sleep(0.5)
    assert client.get(f"/api/train/{tid}").json()["iter"] == paused["iter"] + 1
    step = client.get(f"/api/train/{tid}/step").json()
    assert step["epoch"] * stepped["batches_per_epoch"] + step["iter"] == paused["iter"] + 1
    check_seven_steps(step)
    assert client.post(f"/api/train/{tid}/resume").status_code == 202
    wait_for(client, tid, lambda s: s["iter"] > paused["iter"] + 5)
    assert client.post(f"/api/train/{tid}/resume").status_code == 409  # not paused
    stop(client, tid)


def check_seven_steps(step: dict[str, Any]) -> None:
    """The step's facts: the batch, its predictions, loss, gradient, update, loss after."""
    batch = step["batch"]
    assert batch["size"] == 256 and len(batch["images"]) == 16
    assert set(batch["labels"]) | set(batch["predicted"]) <= {"3", "7"}
    assert all(0.5 <= p <= 1 for p in batch["probability"])
    assert step["loss_after"] < step["loss"]  # the step lowered this batch's loss
    pictures = step["pictures"]
    assert len(pictures["grad"]) == 1 and len(pictures["grad"][0]) == 784
    lr = step["lr"]
    rows = (pictures[k][0] for k in ("before", "grad", "update", "after"))
    for b, g, u, a in zip(*rows, strict=True):
        assert u == pytest.approx(-lr * g, abs=2e-4)  # p -= lr * grad (plain SGD)
        assert a == pytest.approx(b + u, abs=2e-4)
    weights = next(p for p in step["params"] if p["name"] == "weights")
    assert weights["update_norm"] == pytest.approx(lr * weights["grad_norm"], rel=1e-3)


def test_stop_leaves_a_resumable_checkpoint(client: TestClient) -> None:
    tid = start(client, **LONG)
    wait_for(client, tid, lambda s: s["iter"] > 3)
    state = stop(client, tid)
    assert state["state"] == "stopped"
    run_dir = Path(state["run_dir"])
    assert runs.read_run_info(run_dir)["status"] == "interrupted"
    config, checkpoint = runs.resume_point(run_dir)
    assert checkpoint is not None and config.epochs == LONG["epochs"]
    facts = checkpoint[1]
    assert facts["epoch"] * state["batches_per_epoch"] + facts["iter"] == state["iter"]
    for what in ("pause", "resume", "step", "stop"):
        response = client.post(f"/api/train/{tid}/{what}")
        assert response.status_code == 409 and "stopped" in response.json()["error"]


def test_stop_while_paused_saves_at_the_paused_batch(client: TestClient) -> None:
    tid = start(client, **LONG)
    wait_for(client, tid, lambda s: s["iter"] > 0)
    client.post(f"/api/train/{tid}/pause")
    paused = wait_for(client, tid, lambda s: s["state"] == "paused")
    state = stop(client, tid)
    assert state["state"] == "stopped" and state["iter"] == paused["iter"]


def test_two_trainings_at_a_time_then_429(client: TestClient) -> None:
    first, second = start(client, **LONG), start(client, **LONG)
    response = client.post("/api/train", json=LONG)
    assert response.status_code == 429
    assert "limit is 2" in response.json()["error"] and first in response.json()["error"]
    stop(client, first)
    third = start(client, **LONG)  # a freed place can be taken
    for tid in (second, third):
        stop(client, tid)


@pytest.mark.parametrize(
    ("body", "option", "words"),
    [
        ([1, 2], "body", "JSON object"),
        ({"lrr": 1}, "lrr", "unknown option 'lrr'"),
        ({"lr": "fast"}, "lr", "lr must be a number"),
        ({"lr": -1}, "lr", "lr must be a finite number > 0"),
        ({"lr": True}, "lr", "lr must be a number"),
        ({"bs": 0}, "bs", "must be >= 1"),
        ({"bs": 2.5}, "bs", "whole number"),
        ({"bs": 10**7}, "bs", "<= 65536"),
        ({"epochs": 10**6}, "epochs", "<= 1000"),
        ({"dataset": "cifar"}, "dataset", "unknown dataset 'cifar'"),
        ({"model": "resnet"}, "model", "unknown model 'resnet'"),
        ({"loss": "hinge"}, "loss", "hinge"),
        ({"opt": "lbfgs"}, "opt", "unknown optimiser"),
        ({"dataset": "mnist"}, "loss", "for two classes"),
        ({"model": "cnn", "std": 0.01}, "std", "linear model's init"),
        ({"std": -1}, "std", "> 0"),
        ({"recipe": "fastest"}, "recipe", "unknown recipe"),
        ({"augment": "yes"}, "augment", "true or false"),
        ({"mom": 1.5}, "mom", "mom must be in"),
        ({"seed": "x"}, "seed", "whole number"),
    ],
)
def test_a_bad_option_is_a_422_naming_it(
    client: TestClient, body: Any, option: str, words: str
) -> None:
    response = client.post("/api/train", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["option"] == option
    assert words in response.json()["error"]


def test_bad_bodies(client: TestClient) -> None:
    response = client.post(
        "/api/train", content=b"{lr: 1", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    response = client.post(
        "/api/train", content=b"NaN", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    nan = b'{"lr": NaN}'
    response = client.post("/api/train", content=nan, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["option"] == "lr"
    response = client.post("/api/train", content=b"lr=1", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    big = json.dumps({"recipe": "x" * 100_000}).encode()
    response = client.post("/api/train", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_recipe_and_std_fill_the_config(client: TestClient) -> None:
    tid = start(client, recipe="seed", epochs=1, std=0.01)
    state = wait_for(client, tid, finished)
    assert state["config"]["model_kwargs"] == {"std": 0.01}
    assert runs.read_run_info(Path(state["run_dir"]))["model"]["kwargs"] == {"std": 0.01}
    choices = client.get("/api/choices").json()
    assert {"linear", "simple_net", "mlp", "cnn"} <= set(choices["models"])
    assert {"mnist_sample", "mnist", "fashion_mnist"} <= set(choices["datasets"])
    assert choices["recipes"]["seed"]["options"]["lr"] == 1.0


def test_a_divergent_training_shows_as_diverged(client: TestClient) -> None:
    tid = start(client, model="simple_net", loss="cross_entropy", lr=1e30, bs=64, epochs=2)
    events = read_events(client, tid)
    assert events[-1][0] == "error" and events[-1][1]["diverged"] is True
    state = client.get(f"/api/train/{tid}").json()
    assert state["state"] == "diverged" and state["diverged"]
    assert "the learning rate (1e+30) is probably too high" in state["error"]
    assert runs.read_run_info(Path(state["run_dir"]))["status"] == "diverged"
    assert any(kind == "batch" and data["loss"] is None for kind, data in events)  # NaN: null
    assert client.get(f"/api/train/{tid}/digits").status_code == 200  # NaN weights: no 500


def test_a_stuck_training_is_named_as_it_goes_wrong(client: TestClient) -> None:
    """The book's mnist_loss at lr 1000 sits at chance: stuck after its first epoch, not done."""
    tid = start(client, loss="mnist_loss", lr=1000, epochs=3)
    events = read_events(client, tid)
    kinds = [kind for kind, _ in events]
    first = kinds.index("stuck")
    assert kinds[:first].count("epoch") == 1  # named as it goes wrong, not at the end
    reason = events[first][1]["reason"]
    assert reason.startswith("accuracy at chance for an epoch (")
    assert reason.endswith("the sigmoid saturates at this lr; try a smaller lr")
    assert events[-1] == (
        "done",
        {**events[-1][1], "state": "stuck", "stuck": reason},
    )
    state = client.get(f"/api/train/{tid}").json()
    assert state["state"] == "stuck" and state["stuck"] == reason and state["epoch"] == 3


def test_a_dataset_that_cannot_load_is_an_error_state(client: TestClient) -> None:
    tid = start(client, dataset="fashion_mnist", loss="cross_entropy", epochs=1)
    events = read_events(client, tid)
    assert [kind for kind, _ in events] == ["error"]
    state = client.get(f"/api/train/{tid}").json()
    assert state["state"] == "error" and not state["diverged"] and "fashion" in state["error"]


def test_a_diverged_linear_model_still_answers(client: TestClient) -> None:
    tid = start(client, loss="cross_entropy", lr=3e38, epochs=2, bs=64)
    assert read_events(client, tid)[-1][1]["diverged"] is True
    pictures = client.get(f"/api/train/{tid}/weights")
    assert pictures.status_code == 200 and None in pictures.json()["weights"][0]
    assert client.get(f"/api/train/{tid}/digits").status_code == 200


def test_live_weights_digits_and_predict(client: TestClient, sample_cache: Path) -> None:
    from mnist_sgd.datasets import DataOptions, load_dataset
    from web_support import png_bytes

    tid = start(client, **LONG)
    first = wait_for(client, tid, lambda s: s["iter"] > 2)
    before = client.get(f"/api/train/{tid}/weights").json()
    assert len(before["weights"]) == 1 and len(before["weights"][0]) == 784
    assert len(before["change"][0]) == 784 and before["change_scale"] > 0
    wait_for(client, tid, lambda s: s["iter"] > first["iter"] + 150)  # 3 epochs
    after = client.get(f"/api/train/{tid}/weights").json()
    assert after["change"] != before["change"] and after["iter"] > before["iter"]
    panel = client.get(f"/api/train/{tid}/digits").json()
    assert len(panel["images"]) == 16 and set(panel["labels"]) == {"3", "7"}
    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    image = png_bytes(data.valid_images[0].numpy())
    url = f"/api/predict?train={tid}"
    answer = client.post(url, content=image, headers={"content-type": "image/png"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["classes"] == ["3", "7"] and len(answer.json()["probabilities"]) == 2
    assert (
        client.post(
            "/api/predict", content=image, headers={"content-type": "image/png"}
        ).status_code
        == 400
    )
    missing = client.post(
        "/api/predict?train=nosuch", content=image, headers={"content-type": "image/png"}
    )
    assert missing.status_code == 404
    junk = client.post(url, content=b"not an image", headers={"content-type": "image/png"})
    assert junk.status_code == 400 and "not a PNG" in junk.json()["error"]
    assert (
        client.post(url, content=image, headers={"content-type": "text/plain"}).status_code == 415
    )
    stop(client, tid)


def test_weights_are_404_for_a_model_that_is_not_linear(client: TestClient) -> None:
    tid = start(client, model="simple_net", epochs=1, lr=0.1)
    wait_for(client, tid, finished)
    response = client.get(f"/api/train/{tid}/weights")
    assert response.status_code == 404 and "simple_net" in response.json()["error"]
    assert client.get(f"/api/train/{tid}/digits").status_code == 200


def test_a_client_that_leaves_costs_nothing(client: TestClient) -> None:
    tid = start(client, **LONG)
    training = client.app.state.studio.get(tid)  # type: ignore[attr-defined]
    for _ in range(3):
        with client.stream("GET", f"/api/train/{tid}/events") as response:
            next(response.iter_lines())  # read a little, then hang up
    wait_for(client, tid, lambda s: s["iter"] > 20)
    deadline = time.monotonic() + 30
    while training.events._waiters and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not training.events._waiters  # nobody is left waiting on this training's events
    assert len(training.events) <= 4096
    stop(client, tid)


def test_a_finished_training_drops_its_learner(client: TestClient) -> None:
    """Issue 29, 11: the 32 remembered trainings each held a learner (model, optimiser,
    loaders): the studio grew about 1.3 MB a training until 32 were kept."""
    tid = start(client, **LONG)
    training = client.app.state.studio.get(tid)  # type: ignore[attr-defined]
    wait_for(client, tid, lambda s: s["iter"] > 0)
    learner = weakref.ref(training.trainer.learn)
    stop(client, tid)
    training.thread.join(60)
    gc.collect()
    assert training.trainer is None and learner() is None
    assert client.get(f"/api/train/{tid}/digits").status_code == 200  # the live copy stays


def test_the_event_log_is_bounded() -> None:
    log = EventLog(maxlen=100)
    for i in range(10_000):
        log.publish("batch", {"i": i})
    kept = log.after(0)
    assert len(kept) == 100 and kept[-1][0] == 10_000
    assert kept[0][2] == 'id: 9901\nevent: batch\ndata: {"i": 9900}\n\n'  # as sent
    assert log.after(10_000) == []
    log.publish("batch", {"loss": float("nan")})
    assert log.after(10_000)[0][2].endswith('data: {"loss": null}\n\n')


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    routes: dict[str, set[str]] = {}
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if path.startswith("/api"):
            routes.setdefault(path, set()).update(m.lower() for m in route.methods or ())
    assert set(routes) == set(schema["paths"])
    for path, methods in routes.items():
        assert methods - {"head"} == set(schema["paths"][path]), path


def test_foreign_hosts_are_refused_and_leaving_stops_trainings(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES

    app = make_app(tmp_path, shared_data, sample_cache, allowed_hosts=LOOPBACK_NAMES, max_active=1)
    with TestClient(app, base_url="http://127.0.0.1") as local:
        tid = start(local, **LONG)
        assert local.post("/api/train", json=LONG).status_code == 429  # max_active=1
        foreign = local.get("/api/train", headers={"host": "evil.example"})
        assert foreign.status_code == 400 and "not served here" in foreign.json()["error"]
        assert local.get("/").headers["content-security-policy"].startswith("default-src 'self'")
        run_dir = Path(wait_for(local, tid, lambda s: s["iter"] > 2)["run_dir"])
    # leaving the client ran the app's shutdown: the training stopped with a checkpoint
    assert runs.read_run_info(run_dir)["status"] == "interrupted"
    assert runs.resume_point(run_dir)[1] is not None


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_deeply_nested_body_is_a_400_not_a_traceback(client: TestClient, opening: bytes) -> None:
    """Issue 29, 2: a RecursionError escaped as a 500 with a traceback in the server log."""
    closing = b"]" if opening == b"[" else b"}"
    body = opening * 10_000 + b"1" + closing * 10_000  # under the 64 KiB cap
    response = client.post("/api/train", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nests deeper than" in response.json()["error"]


def test_a_dataset_path_given_at_start_is_offered_and_trains(
    tmp_path: Path, shared_data: Path, sample_cache: Path, own_digits: dict[str, Path]
) -> None:
    """``mnist-sgd studio --dataset PATH``: the page lists the path and trains on it; a path
    the server was not given is a 422 naming the option, whatever the request says."""
    csv = own_digits["csv"]
    app = make_app(tmp_path, shared_data, tmp_path / "cache", datasets=[str(csv)])
    with TestClient(app, headers={"x-requested-with": "mnist-sgd"}) as client:
        offered = client.get("/api/choices").json()["datasets"]
        assert offered[-1] == str(csv.resolve()) and "mnist_sample" in offered
        schema = client.get("/openapi.json").json()["components"]["schemas"]["TrainOptions"]
        assert str(csv.resolve()) in schema["properties"]["dataset"]["enum"]
        tid = start(client, dataset=str(csv), loss="cross_entropy", epochs=1, bs=64)
        state = wait_for(client, tid, finished)
        assert state["state"] == "done", state
        recorded = runs.read_run_info(Path(state["run_dir"]))["data"]
        assert recorded["source"] == str(csv.resolve()) and recorded["valid_pct"] == 0.2
        for other in (str(own_digits["test_csv"]), "/etc/passwd", "../" * 8 + "etc"):
            answer = client.post("/api/train", json={"dataset": other, "loss": "cross_entropy"})
            assert answer.status_code == 422, other
            body = answer.json()
            assert body["option"] == "dataset" and "mnist-sgd studio --dataset" in body["error"]


def test_a_studio_without_paths_refuses_every_path(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    answer = client.post("/api/train", json={"dataset": str(tmp_path)})
    assert answer.status_code == 422 and "(none was given)" in answer.json()["error"]


def test_a_missing_dataset_path_is_refused_at_start(tmp_path: Path) -> None:
    from mnist_sgd.web import create_studio_app

    with pytest.raises(ValueError, match=r"argument --dataset: .*nope\.csv: no such file"):
        create_studio_app(tmp_path / "runs", datasets=[tmp_path / "nope.csv"])


def test_the_pad_saves_drawings_under_a_trainings_classes(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    """``mnist-sgd studio --collect DIR``: the pad's drawing becomes ``DIR/<label>/*.png``, the
    28x28 picture the model saw; a label outside the training's classes, a full folder and a
    foreign Host are refused, and nothing else is written."""
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.datasets import DataOptions, load_dataset
    from mnist_sgd.web.shared.collect import Collector
    from web_support import png_bytes

    folder = tmp_path / "class-digits"
    app = make_app(
        tmp_path,
        shared_data,
        sample_cache,
        allowed_hosts=LOOPBACK_NAMES,
        collect=Collector(folder, [], max_files=2),
    )
    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    png = {"content-type": "image/png"}
    with TestClient(app, base_url="http://127.0.0.1") as local:
        assert local.get("/api/choices").json()["collect"] is True
        tid = start(local, **LONG)
        wait_for(local, tid, lambda s: s["iter"] > 0)
        drawing = png_bytes(data.valid_images[0].numpy())
        saved = local.post(f"/api/collect?train={tid}&label=3", content=drawing, headers=png)
        assert saved.status_code == 200, saved.text
        path = Path(saved.json()["saved"])
        assert path.parent == folder / "3" and Image.open(path).size == (28, 28)
        wrong = local.post(f"/api/collect?train={tid}&label=../5", content=drawing, headers=png)
        assert wrong.status_code == 422 and "training's classes" in wrong.json()["error"]
        assert local.post("/api/collect?label=3", content=drawing, headers=png).status_code == 400
        foreign = local.post(
            f"/api/collect?train={tid}&label=7",
            content=drawing,
            headers={**png, "host": "evil.example"},
        )
        assert foreign.status_code == 400
        assert local.post(
            f"/api/collect?train={tid}&label=7", content=drawing, headers=png
        ).is_success
        full = local.post(f"/api/collect?train={tid}&label=7", content=drawing, headers=png)
        assert full.status_code == 409 and "is full" in full.json()["error"]
        stop(local, tid)
    assert sorted(p.parent.name for p in folder.rglob("*") if p.is_file()) == ["3", "7"]
    # and the folder is a class-folder set the studio, evaluate and train read
    collected = load_dataset(str(folder), DataOptions(cache_dir=tmp_path / "cache", valid_pct=0.5))
    assert collected.classes == ("3", "7")


def test_without_collect_the_studio_route_is_404(client: TestClient) -> None:
    assert client.get("/api/choices").json()["collect"] is False
    answer = client.post(
        "/api/collect?train=x&label=3", content=b"", headers={"content-type": "image/png"}
    )
    assert answer.status_code == 404 and "--collect DIR" in answer.json()["error"]
