// mnist-sgd studio: start a training on the server, follow its event stream, draw the loss
// and accuracy curves (earlier trainings stay for comparison), poll the linear model's weights
// and the 16 validation digits, predict what is drawn with the live model, show Step's batch.
"use strict";

(() => {
  const REDRAW_MS = 200;     // charts redrawn at most this often (the issue asks for <= 250 ms)
  const POLL_MS = 250;       // weights, digits and the drawing's prediction, while training runs
  const LINE_WIDTH = 20;     // the drawing pen, as on serve's page
  const COLORS = ["#2f6fde", "#d9480f", "#2b8a3e", "#7048e8", "#c2255c", "#e67700", "#0b7285"];
  const ACTIVE = ["loading", "running", "paused", "stopping"];
  const $ = (id) => document.getElementById(id);
  const { t } = window.I18N;   // every text from the catalogue (i18n.js)
  const stateName = (name) => t(`state.${name}`);

  const state = {
    choices: null,
    series: [],            // one per training of the session: curves for comparison
    current: null,         // the series being followed
    source: null,          // its EventSource
    dirty: true,
    polling: { weights: false, digits: false, predict: false },
    strokes: [], stroke: null, pointer: null, predictions: 0,
  };

  // ---- controls --------------------------------------------------------------------------

  function fillSelect(select, names, chosen) {
    select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
  }

  async function loadChoices() {
    const response = await fetch("/api/choices");
    const choices = await response.json();
    state.choices = choices;
    const d = choices.defaults;
    fillSelect($("dataset"), choices.datasets, d.dataset);
    fillSelect($("model"), choices.models, d.model);
    fillSelect($("loss"), choices.losses, d.loss);
    fillSelect($("opt"), choices.optimizers, d.opt);
    $("collect").hidden = !choices.collect;  // studio --collect DIR: the pad saves drawings
    for (const [name, recipe] of Object.entries(choices.recipes)) {
      const summary = t(`recipe.${name}`) === `recipe.${name}` ? recipe.summary : t(`recipe.${name}`);
      $("recipe").append(new Option(`${name}: ${summary}`, name));
    }
    applyOptions(d);
  }

  function applyOptions(options) {
    for (const key of ["dataset", "model", "loss", "opt", "bs", "epochs", "seed"]) {
      if (options[key] !== undefined) $(key).value = options[key];
    }
    setLr(options.lr);
    const std = (options.model_kwargs || {}).std;
    $("std").value = std === undefined ? "1" : String(std);
    if ($("std").value === "") $("std").append(new Option(String(std), String(std), true, true));
    syncStd();
  }

  function setLr(lr) {
    $("lr").value = String(lr);
    $("lr-slider").value = String(Math.log10(lr));
  }

  function syncStd() {
    $("std").disabled = $("model").value !== "linear";
  }

  function readOptions() {
    const options = {
      dataset: $("dataset").value, model: $("model").value, loss: $("loss").value,
      opt: $("opt").value, lr: Number($("lr").value), bs: Number($("bs").value),
      epochs: Number($("epochs").value), seed: Number($("seed").value),
    };
    const recipe = $("recipe").value;
    if (recipe) {
      const base = state.choices.recipes[recipe].options;
      for (const key of ["mom", "wd", "schedule", "augment"]) options[key] = base[key];
    }
    if (options.model === "linear") options.std = Number($("std").value);
    if (window.classroom) Object.assign(options, window.classroom.trainOptions());  // the speed
    return options;
  }

  // ---- training: start, commands, events ----------------------------------------------------

  async function train() {
    const options = readOptions();
    const answer = await post("/api/train", options);
    if (!answer) return;
    const series = newSeries(answer.id, options, answer.run_dir);
    follow(series, 0);
  }

  async function post(url, body) {
    setMessage("");
    let response;
    let answer;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: body === undefined ? { "X-Requested-With": "mnist-sgd" } : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      answer = await response.json();
    } catch (error) {
      setMessage(t("studio.unreachable", { error: error.message }));
      return null;
    }
    if (!response.ok) {
      setMessage(answer.error || t("page.answered", { status: response.status }));
      return null;
    }
    return answer;
  }

  function newSeries(id, options, runDir) {
    const series = {
      id, options, runDir, color: COLORS[state.series.length % COLORS.length],
      losses: [], smooth: [], avg: 0, epochs: [], state: "loading", error: null,
      iter: 0, lr: null, bps: null, classes: [], stepIter: null, stuck: null, stuckSaid: null,
    };
    state.series.push(series);
    return series;
  }

  function follow(series, after) {
    if (state.source) state.source.close();
    state.current = series;
    document.body.dataset.batches = "0";
    $("weights-card").hidden = series.options.model !== "linear";
    for (const id of ["weights", "change", "digits"]) $(id).replaceChildren();
    clearStep();
    delete document.body.dataset.stuck;
    const source = new EventSource(`/api/train/${series.id}/events?after=${after}`);
    state.source = source;
    source.addEventListener("batch", (e) => onBatch(series, JSON.parse(e.data)));
    source.addEventListener("epoch", (e) => onEpoch(series, JSON.parse(e.data)));
    source.addEventListener("state", (e) => setState(series, JSON.parse(e.data).state));
    source.addEventListener("step", (e) => showStep(series, JSON.parse(e.data)));
    source.addEventListener("stuck", (e) => onStuck(series, JSON.parse(e.data).reason, JSON.parse(e.data).said));
    source.addEventListener("speed", (e) => showSpeed(series, JSON.parse(e.data).speed));
    source.addEventListener("done", (e) => {
      const done = JSON.parse(e.data);
      if (done.stuck !== undefined) onStuck(series, done.stuck, done.stuck_said);
      onEnd(series, done.state, null);
    });
    source.addEventListener("error", (e) => {
      if (e.data) onEnd(series, JSON.parse(e.data).state, JSON.parse(e.data).message);
    });
    setState(series, "loading");
    refreshStatus(series);
  }

  async function refreshStatus(series) {
    const response = await fetch(`/api/train/${series.id}`);
    if (!response.ok) return;
    const status = await response.json();
    series.classes = status.classes;
    series.runDir = status.run_dir;
    showSpeed(series, status.speed);
    if (series.state === "loading" && status.state !== "loading") setState(series, status.state);
    if (series.state === "loading") setTimeout(() => refreshStatus(series), 300);
  }

  function showSpeed(series, speed) {  // the pace the server keeps (a reload, another window)
    series.speed = speed;
    if (series === state.current && window.classroom) window.classroom.showSpeed(speed);
  }

  function onBatch(series, batch) {
    if (series.state === "loading") setState(series, "running");
    const loss = batch.loss === null ? NaN : batch.loss;
    series.losses.push(loss);
    series.avg = 0.98 * series.avg + 0.02 * (Number.isFinite(loss) ? loss : series.avg);
    series.smooth.push(series.avg / (1 - 0.98 ** series.losses.length));
    series.iter = batch.iter;
    series.lr = batch.lr;
    series.bps = batch.bps;
    if (series === state.current) {
      document.body.dataset.batches = String(series.losses.length);
      document.body.dataset.iter = String(batch.iter);
    }
    state.dirty = true;
  }

  function onEpoch(series, record) {
    series.epochs.push(record);
    state.dirty = true;
  }

  function onStuck(series, reason, said) {
    // at chance for an epoch, or the loss not moving: said as it happens, with the reason
    series.stuck = reason || null;
    series.stuckSaid = said || null;
    if (series === state.current) {
      setMessage(series.stuck ? t("studio.stuck_message", { reason: stuckText(series) }) : "");
      if (series.stuck) document.body.dataset.stuck = series.stuck;
      else delete document.body.dataset.stuck;
    }
    state.dirty = true;
  }

  function onEnd(series, final, message) {
    series.error = message;
    setState(series, final || (message ? "error" : "done"));
    if (state.source && series === state.current) state.source.close();
    if (message) setMessage(series.state === "diverged" ? t("studio.diverged_message", { message }) : message);
    pollLive(true);
  }

  function setState(series, name) {
    series.state = name;
    if (series === state.current) document.body.dataset.state = name;
    state.dirty = true;
    updateButtons();
  }

  async function command(what) {
    const series = state.current;
    if (!series) return;
    const answer = await post(`/api/train/${series.id}/${what}`);
    // the stream may already have said more (a stop's "done" can come before this answer)
    if (answer && what === "resume" && series.state === "paused") setState(series, "running");
    if (answer && what === "stop" && ACTIVE.includes(series.state)) setState(series, "stopping");
  }

  function updateButtons() {
    const s = state.current ? state.current.state : "none";
    $("pause").disabled = s !== "running";
    $("resume").disabled = s !== "paused";
    $("step").disabled = !["running", "paused"].includes(s);
    $("stop").disabled = !["loading", "running", "paused"].includes(s);
    $("reset").disabled = ACTIVE.includes(s);
  }

  function reset() {
    if (state.source) state.source.close();
    state.series = [];
    state.current = null;
    document.body.dataset.state = "none";
    $("recipe").value = "";
    applyOptions(state.choices.defaults);
    $("weights-card").hidden = true;
    $("digits").replaceChildren();
    clearStep();
    setMessage("");
    state.dirty = true;
    updateButtons();
  }

  function setMessage(text) {
    $("message").textContent = text;
  }

  // ---- charts ------------------------------------------------------------------------------

  function redraw() {
    if (!state.dirty) return;
    state.dirty = false;
    const all = state.series;
    lineChart($("loss-chart"), all.map((s) => ({ s, raw: s.losses, values: s.smooth })), "batch");
    lineChart($("valid-chart"), all.map((s) => ({ s, values: s.epochs.map((r) => r.valid_loss) })), "epoch");
    lineChart($("acc-chart"), all.map((s) => ({ s, values: s.epochs.map(accuracyOf) })), "epoch", true);
    showLive();
    showLegend();
  }

  function accuracyOf(record) {
    return record.accuracy ?? record.batch_accuracy;
  }

  // A line chart on a canvas: every series of the session, the followed one drawn bold.
  function lineChart(canvas, lines, what, percent = false) {
    const ctx = canvas.getContext("2d");
    const [w, h, left, bottom, top, right] = [canvas.width, canvas.height, 52, 26, 10, 10];
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fbfbfa";
    ctx.fillRect(0, 0, w, h);
    const finite = lines.flatMap((l) => [...(l.raw || []), ...l.values]).filter(Number.isFinite);
    const n = Math.max(1, ...lines.map((l) => l.values.length));
    if (!finite.length) return axes(ctx, w, h, left, bottom, top, right, null, what, n);
    let [low, high] = [Math.min(...sample(finite)), Math.max(...sample(finite))];
    if (!percent) low = Math.min(low, 0);
    if (high - low < 1e-9) {  // a flat line: a band around it (an accuracy stays within 0..100%)
      [low, high] = percent ? [Math.max(0, low - 0.05), Math.min(1, high + 0.05)] : [low, low + 1];
    }
    const px = (i) => left + (n <= 1 ? 0.5 : i / (n - 1)) * (w - left - right);
    const py = (y) => top + (1 - (y - low) / (high - low)) * (h - top - bottom);
    axes(ctx, w, h, left, bottom, top, right, [low, high, py, percent], what, n);
    for (const line of lines) {
      const bold = line.s === state.current;
      if (line.raw) path(ctx, line.raw, px, py, fade(line.s.color, 0.3), 1);
      path(ctx, line.values, px, py, line.s.color, bold ? 2.5 : 1.2, what === "epoch");
    }
  }

  function sample(values) {   // Math.min(...) on 100k values would overflow the stack
    const step = Math.max(1, Math.floor(values.length / 5000));
    return values.filter((_, i) => i % step === 0 || i === values.length - 1);
  }

  function path(ctx, values, px, py, color, width, dots = false) {
    const step = Math.max(1, Math.floor(values.length / 2000));
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let open = false;
    for (let i = 0; i < values.length; i += step) {
      const v = values[i];
      if (!Number.isFinite(v)) { open = false; continue; }
      if (open) ctx.lineTo(px(i), py(v)); else ctx.moveTo(px(i), py(v));
      open = true;
    }
    ctx.stroke();
    if (dots) values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      ctx.beginPath();
      ctx.arc(px(i), py(v), width + 1, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  function axes(ctx, w, h, left, bottom, top, right, scale, what, n) {
    ctx.strokeStyle = "#9aa0a6";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, top);
    ctx.lineTo(left, h - bottom);
    ctx.lineTo(w - right, h - bottom);
    ctx.stroke();
    ctx.fillStyle = "#5d6166";
    ctx.font = `11px ${window.I18N.font}`;
    ctx.textAlign = "center";
    ctx.fillText(`${t(what === "batch" ? "studio.axis_batches" : "studio.axis_epochs")}${n > 1 ? ` (${n})` : ""}`, (left + w - right) / 2, h - 8);
    if (!scale) return;
    const [low, high, py, percent] = scale;
    ctx.textAlign = "right";
    for (const y of [low, (low + high) / 2, high]) {
      ctx.fillText(percent ? `${(100 * y).toFixed(1)}%` : y.toPrecision(3), left - 4, py(y) + 4);
    }
  }

  function fade(hex, alpha) {
    const v = parseInt(hex.slice(1), 16);
    return `rgba(${v >> 16}, ${(v >> 8) & 255}, ${v & 255}, ${alpha})`;
  }

  function showLive() {
    const s = state.current;
    const text = (id, value) => { $(id).textContent = value; };
    if (!s) return ["live-state", "live-epoch", "live-iter", "live-lr", "live-bps", "live-loss", "live-run"].forEach((id) => text(id, "–"));
    const why = s.error && s.state === "diverged" ? ` ${t("studio.diverged_why")}`
      : s.stuck && s.state !== "stuck" ? ` · ${stateName("stuck")}` : "";
    text("live-state", stateName(s.state) + why);
    text("live-epoch", t("studio.epochs_done", { done: s.epochs.length, total: s.options.epochs }));
    text("live-iter", String(s.iter));
    text("live-lr", s.lr === null ? "–" : Number(s.lr).toPrecision(3));
    text("live-bps", s.bps ? s.bps.toFixed(0) : "–");
    const last = s.smooth[s.smooth.length - 1];
    text("live-loss", last === undefined ? "–" : last.toFixed(4));
    text("live-run", s.runDir || "–");
    $("status-line").textContent = t("studio.status", { id: s.id, state: stateName(s.state), options: describe(s.options) });
  }

  function describe(o) {
    return t("studio.describe", { dataset: o.dataset, model: o.model, loss: o.loss, opt: o.opt, lr: o.lr, bs: o.bs });
  }

  function stuckText(series) {   // the reason in the page's language (English if it came without a key)
    return window.I18N.say(series.stuckSaid, series.stuck);
  }

  function showLegend() {
    const list = $("legend");
    list.replaceChildren(...state.series.map((s) => {
      const item = document.createElement("li");
      item.style.borderColor = s.color;
      item.classList.toggle("current", s === state.current);
      item.classList.toggle("diverged", s.state === "diverged");
      item.classList.toggle("stuck", Boolean(s.stuck));
      const acc = s.epochs.length ? accuracyOf(s.epochs[s.epochs.length - 1]) : null;
      const score = acc === null || acc === undefined ? "" : ` · ${t("studio.legend_accuracy", { accuracy: (100 * acc).toFixed(2) })}`;
      const stuck = s.stuck && s.state !== "stuck" ? ` · ${stateName("stuck")}` : "";
      item.textContent = `${describe(s.options)} · ${stateName(s.state)}${stuck}${score}`;
      if (s.state === "diverged") item.title = s.error;
      else if (s.stuck) item.title = t("studio.stuck_message", { reason: stuckText(s) });
      item.dataset.id = s.id;
      return item;
    }));
  }

  // ---- the live model: weights, digits, the drawing ------------------------------------------

  async function pollLive(force = false) {
    const s = state.current;
    if (!s || (!force && !["running", "paused", "stopping"].includes(s.state))) return;
    if (s.options.model === "linear") once("weights", `/api/train/${s.id}/weights`, showWeights);
    once("digits", `/api/train/${s.id}/digits`, showDigits);
    if (state.strokes.length) predictDrawing();
  }

  async function once(name, url, show) {
    if (state.polling[name]) return;
    state.polling[name] = true;
    try {
      const response = await fetch(url);
      if (response.ok) show(await response.json());
    } catch (error) {
      // the next poll tries again
    } finally {
      state.polling[name] = false;
    }
  }

  function diverging(canvas, row, scale) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(28, 28);
    row.forEach((w, p) => {
      const t = Math.max(-1, Math.min(1, (w ?? 0) / (scale || 1)));   // red +, blue -, white 0
      const fade = Math.round(255 * (1 - Math.abs(t)));
      image.data.set(t >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * p);
    });
    ctx.putImageData(image, 0, 0);
  }

  function pictures(holder, rows, scale, captions) {
    while (holder.children.length > rows.length) holder.lastChild.remove();
    rows.forEach((row, i) => {
      let figure = holder.children[i];
      if (!figure) {
        figure = document.createElement("figure");
        const canvas = document.createElement("canvas");
        canvas.width = 28;
        canvas.height = 28;
        figure.append(canvas, document.createElement("figcaption"));
        holder.append(figure);
      }
      diverging(figure.firstChild, row, scale);
      figure.lastChild.textContent = captions ? captions[i] : "";
    });
  }

  function showWeights(answer) {
    if (!state.current || state.current.options.model !== "linear") return;
    $("weights-card").hidden = false;
    const captions = answer.captions_said ? answer.captions_said.map((said) => window.I18N.say(said)) : answer.captions;
    pictures($("weights"), answer.weights, answer.scale, captions);
    pictures($("change"), answer.change || [], answer.change_scale, captions);
    $("weights-scale").textContent = `(±${fmt(answer.scale)})`;
    $("change-scale").textContent = answer.change ? `(±${fmt(answer.change_scale)})` : "";
    document.body.dataset.weightsIter = String(answer.iter);
  }

  function showDigits(answer) {
    const holder = $("digits");
    answer.images.forEach((png, i) => {
      let figure = holder.children[i];
      if (!figure) {
        figure = document.createElement("figure");
        const img = document.createElement("img");
        img.alt = t("studio.digit_alt", { label: answer.labels[i] });
        img.src = `data:image/png;base64,${png}`;
        figure.append(img, document.createElement("figcaption"));
        holder.append(figure);
      }
      const p = answer.probability[i];
      const right = p !== null && answer.predicted[i] === answer.labels[i];
      figure.className = right ? "right" : "wrong";
      figure.lastChild.textContent = p === null ? "? (NaN)" : `${answer.predicted[i]} ${(100 * p).toFixed(0)}%`;
    });
    document.body.dataset.digitsIter = String(answer.iter);
  }

  // ---- the drawing pad ---------------------------------------------------------------------

  const pad = $("pad");
  const pen = pad.getContext("2d");

  function clearPad() {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, pad.width, pad.height);
    pen.strokeStyle = "#fff";
    pen.fillStyle = "#fff";
    pen.lineWidth = LINE_WIDTH;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    state.strokes = [];
    $("verdict").textContent = "?";
    $("bars").replaceChildren();
    $("class-note").hidden = true;
  }

  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
  }

  function onDown(event) {
    if (state.pointer !== null) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    state.pointer = event.pointerId;
    state.stroke = [padPoint(event)];
    state.strokes.push(state.stroke);
    const [x, y] = state.stroke[0];
    pen.beginPath();
    pen.arc(x, y, LINE_WIDTH / 2, 0, 2 * Math.PI);
    pen.fill();
  }

  function onMove(event) {
    if (event.pointerId !== state.pointer) return;
    event.preventDefault();
    const next = padPoint(event);
    const last = state.stroke[state.stroke.length - 1];
    pen.beginPath();
    pen.moveTo(last[0], last[1]);
    pen.lineTo(next[0], next[1]);
    pen.stroke();
    state.stroke.push(next);
  }

  function onUp(event) {
    if (event.pointerId !== state.pointer) return;
    state.pointer = null;
    predictDrawing();
  }

  async function predictDrawing() {
    const s = state.current;
    if (!s || !state.strokes.length || state.polling.predict) return;
    if (s.state === "loading") { $("verdict-line").textContent = t("studio.still_loading"); return; }
    state.polling.predict = true;
    try {
      const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
      const response = await fetch(`/api/predict?train=${s.id}`, { method: "POST", body: blob, headers: { "Content-Type": "image/png" } });
      const answer = await response.json();
      if (!state.strokes.length) return;
      if (!response.ok) { $("verdict-line").textContent = answer.error; return; }
      showPrediction(answer);
    } finally {
      state.polling.predict = false;
    }
  }

  function showPrediction(answer) {
    $("verdict").textContent = answer.label;
    $("verdict").dataset.iter = String(answer.iter);
    $("verdict-line").textContent = t("studio.sure_after", { percent: (100 * answer.probability).toFixed(1), iter: answer.iter });
    // a model of fewer classes than the ten digits calls every drawing one of them: say so
    $("class-note").textContent = answer.note ? t("page.note", { note: window.I18N.say(answer.note_said, answer.note) }) : "";
    $("class-note").hidden = !answer.note;
    const list = $("bars");
    list.replaceChildren(...answer.classes.map((name, i) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${(100 * answer.probabilities[i]).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = `${(100 * answer.probabilities[i]).toFixed(1)}%`;
      item.append(label, track, value);
      item.classList.toggle("top", i === answer.index);
      return item;
    }));
    state.predictions += 1;
    document.body.dataset.predictions = String(state.predictions);
    const labels = [...$("collect-label").options].map((o) => o.value);
    if (labels.join() !== answer.classes.join()) fillSelect($("collect-label"), answer.classes, answer.label);
  }

  async function saveDrawing() {
    const s = state.current;
    if (!s || !state.strokes.length || !$("collect-label").value) { $("collect-line").textContent = t("draw.draw_first"); return; }
    const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const label = encodeURIComponent($("collect-label").value);
    const response = await fetch(`/api/collect?train=${s.id}&label=${label}`, { method: "POST", body: blob, headers: { "Content-Type": "image/png" } });
    const answer = await response.json();
    $("collect-line").textContent = response.ok ? t("draw.saved", { label: answer.label, path: answer.saved.split(/[\\/]/).pop() }) : answer.error;
    if (response.ok) document.body.dataset.saved = answer.saved;
  }

  // ---- step mode ---------------------------------------------------------------------------

  function clearStep() {
    // a new training's panel starts empty: nothing of the previous run's step (its lr, its batch)
    $("steps").hidden = true;
    $("step-hint").textContent = t("studio.step_hint");
    for (const id of ["step-before", "step-batch", "step-grad", "step-update"]) $(id).replaceChildren();
    for (const id of ["step-params", "step-lr"]) $(id).textContent = "";
    for (const id of ["step-loss", "step-after"]) $(id).textContent = "–";
    delete document.body.dataset.stepIter;
  }

  function showStep(series, step) {
    if (series !== state.current) return;
    $("steps").hidden = false;
    const at = { epoch: step.epoch + (step.iter ? 1 : 0), batch: step.iter, size: step.batch.size };
    $("step-hint").textContent = t(step.iter ? "studio.step_at" : "studio.step_at_last", at);
    const pics = step.pictures;
    const none = (id) => { $(id).replaceChildren(); };
    if (pics) {
      pictures($("step-before"), pics.before, maxAbs(pics.before));
      pictures($("step-grad"), pics.grad, maxAbs(pics.grad));
      pictures($("step-update"), pics.update, maxAbs(pics.update));
    } else ["step-before", "step-grad", "step-update"].forEach(none);
    $("step-params").textContent = step.params.map((p) => t("studio.step_param", { name: paramName(p.name), shape: p.shape.join("×"), grad: fmt(p.grad_norm), update: fmt(p.update_norm) })).join("; ");
    $("step-lr").textContent = t("studio.step_lr", { lr: Number(step.lr).toPrecision(3) });
    $("step-loss").textContent = fmt(step.loss);
    const change = { after: fmt(step.loss_after), by: fmt(Math.abs(step.loss - step.loss_after)) };
    $("step-after").textContent = t(step.loss_after <= step.loss ? "studio.loss_lower" : "studio.loss_higher", change);
    showBatch(step.batch);
    document.body.dataset.stepIter = String(series.iter);
  }

  function showBatch(batch) {
    $("step-batch").replaceChildren(...batch.images.map((png, i) => {
      const figure = document.createElement("figure");
      figure.className = batch.predicted[i] === batch.labels[i] ? "right" : "wrong";
      const img = document.createElement("img");
      img.src = `data:image/png;base64,${png}`;
      img.alt = t("studio.batch_alt", { label: batch.labels[i] });
      const caption = document.createElement("figcaption");
      caption.textContent = `${batch.predicted[i]} ${(100 * batch.probability[i]).toFixed(0)}%`;
      figure.append(img, caption);
      return figure;
    }));
  }

  const paramName = (name) => (t(`param.${name}`) === `param.${name}` ? name : t(`param.${name}`));
  const maxAbs = (rows) => Math.max(1e-12, ...rows.map((r) => Math.max(...r.map(Math.abs))));
  const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toPrecision(4));

  // ---- wiring ------------------------------------------------------------------------------

  async function resumeSession() {
    const response = await fetch("/api/train");
    if (!response.ok) return;
    for (const t of await response.json()) {
      const s = newSeries(t.id, t.config, t.run_dir);
      s.state = t.state;
      s.epochs = t.history;
      s.error = t.error;
      s.stuck = t.stuck || null;
      s.stuckSaid = t.stuck_said || null;
      if (ACTIVE.includes(t.state)) follow(s, 0);
    }
    state.dirty = true;
  }

  async function setUp() {
    await window.I18N.ready;
    clearPad();
    await loadChoices();
    $("lr-slider").addEventListener("input", () => { $("lr").value = Number((10 ** Number($("lr-slider").value)).toPrecision(3)); });
    $("lr").addEventListener("input", () => { const v = Number($("lr").value); if (v > 0) $("lr-slider").value = String(Math.log10(v)); });
    $("model").addEventListener("change", syncStd);
    $("recipe").addEventListener("change", () => { const r = $("recipe").value; if (r) applyOptions(state.choices.recipes[r].options); });
    $("train").addEventListener("click", train);
    for (const what of ["pause", "resume", "step", "stop"]) $(what).addEventListener("click", () => command(what));
    $("reset").addEventListener("click", reset);
    $("clear-pad").addEventListener("click", clearPad);
    $("collect-save").addEventListener("click", saveDrawing);
    pad.addEventListener("pointerdown", onDown);
    pad.addEventListener("pointermove", onMove);
    pad.addEventListener("pointerup", onUp);
    pad.addEventListener("pointercancel", onUp);
    setInterval(redraw, REDRAW_MS);
    setInterval(() => pollLive(false), POLL_MS);
    await resumeSession();
    updateButtons();
    document.body.dataset.ready = "true";
  }

  window.studio = { applyOptions, current: () => state.current };  // for classroom.js
  setUp();
})();
