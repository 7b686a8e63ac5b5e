// mnist-sgd draw-a-digit page: draw with pointer events, ask /api/predict while drawing
// (throttled, at most one request in flight), show the probabilities, the 28x28 image the
// model saw, and the run's summary, curves and (for linear models) weight pictures.
"use strict";

(() => {
  const THROTTLE_MS = 120;   // at most about 8 live predictions a second
  const LINE_WIDTH = 20;     // canvas pixels on a 280 px canvas: about an MNIST pen stroke
  const SVG = "http://www.w3.org/2000/svg";
  const NOTHING_SEEN = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";
  const $ = (id) => document.getElementById(id);
  const { t } = window.I18N;   // every text from the catalogue (i18n.js)
  const nameOf = (key) => (t(`name.${key}`) === `name.${key}` ? key : t(`name.${key}`));

  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const state = {
    strokes: [], current: null, pointerId: null, preview: false,
    dirty: false, inflight: false, timer: null, lastSent: 0, generation: 0, predictions: 0,
    classes: [],
  };

  // ---- drawing -------------------------------------------------------------------------

  function pointOf(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
            (event.clientY - box.top) * canvas.height / box.height];
  }

  function paintBackground() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function drawSegment(from, to) {
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  }

  function drawDot(at) {
    ctx.beginPath();
    ctx.arc(at[0], at[1], LINE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function drawStroke(points) {
    drawDot(points[0]);
    for (let i = 1; i < points.length; i++) drawSegment(points[i - 1], points[i]);
  }

  function redraw() {
    paintBackground();
    state.strokes.forEach(drawStroke);
    $("drop-hint").classList.toggle("gone", state.strokes.length > 0 || state.preview);
  }

  function onPointerDown(event) {
    if (state.pointerId !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    if (state.preview) startOver();
    canvas.setPointerCapture(event.pointerId);
    state.pointerId = event.pointerId;
    state.current = [pointOf(event)];
    state.strokes.push(state.current);
    drawDot(state.current[0]);
    $("drop-hint").classList.add("gone");
    requestPrediction();
  }

  function onPointerMove(event) {
    if (event.pointerId !== state.pointerId || !state.current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const next = pointOf(e);
      drawSegment(state.current[state.current.length - 1], next);
      state.current.push(next);
    }
    requestPrediction();
  }

  function onPointerUp(event) {
    if (event.pointerId !== state.pointerId) return;
    state.pointerId = null;
    state.current = null;
    requestPrediction();
  }

  function undo() {
    if (state.pointerId !== null) return;
    state.strokes.pop();
    redraw();
    if (state.strokes.length) requestPrediction(); else startOver();
  }

  function startOver() {
    state.strokes = [];
    state.current = null;
    state.preview = false;
    state.dirty = false;
    state.generation += 1;   // answers to earlier requests are ignored
    redraw();
    resetResult();
    setStatus("");
    updateBusy();
  }

  // ---- talking to the server -----------------------------------------------------------

  function requestPrediction() {
    if (!state.strokes.length) return;
    state.dirty = true;
    pump();
  }

  // Sends the canvas when it changed, no more often than THROTTLE_MS, one request at a time.
  async function pump() {
    updateBusy();
    if (state.inflight || !state.dirty || state.timer) return;
    const wait = state.lastSent + THROTTLE_MS - performance.now();
    if (wait > 0) {
      state.timer = setTimeout(() => { state.timer = null; pump(); }, wait);
      return;
    }
    state.dirty = false;
    state.inflight = true;
    state.lastSent = performance.now();
    updateBusy();
    try {
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      await postImage(blob, { "Content-Type": "image/png" }, "canvas", t("draw.what_drawing"));
    } finally {
      state.inflight = false;
      pump();
    }
  }

  async function postImage(body, headers, source, what) {
    const generation = state.generation;
    let answer;
    let response;
    try {
      response = await fetch("/api/predict", { method: "POST", body, headers });
      answer = await response.json().catch(() => ({ error: t("page.answered", { status: response.status }) }));
    } catch (error) {
      answer = { error: t("draw.unreachable", { error: error.message }) };
    }
    if (generation !== state.generation) return;
    if (!response || !response.ok) {
      resetResult();
      setStatus(answer.error || t("draw.unreadable"), true);
      return;
    }
    showResult(answer, source, what);
    setStatus("");
  }

  // --collect: the drawing (as the model sees it) saved under the picked class.
  function setUpCollect(classes) {
    const picker = $("collect-label");
    picker.replaceChildren(...classes.map((name) => new Option(name, name)));
    $("collect-block").hidden = false;
    $("collect-save").addEventListener("click", saveDrawing);
  }

  // Its own status line: a prediction answering after the save must not wipe it.
  function setCollectStatus(text, isError) {
    $("collect-status").textContent = text;
    $("collect-status").classList.toggle("error", isError);
  }

  async function saveDrawing() {
    if (!state.strokes.length) { setCollectStatus(t("draw.draw_first"), true); return; }
    const label = $("collect-label").value;
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    let answer;
    try {
      const response = await fetch(`/api/collect?label=${encodeURIComponent(label)}`,
        { method: "POST", body: blob, headers: { "Content-Type": "image/png" } });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || t("page.answered", { status: response.status }));
    } catch (error) {
      setCollectStatus(t("draw.not_saved", { error: error.message }), true);
      return;
    }
    setCollectStatus(t("draw.saved", { label, path: answer.saved }), false);
  }

  async function upload(file) {
    if (!file) return;
    startOver();
    state.preview = true;
    redraw();
    showPreview(file);
    const form = new FormData();
    form.append("image", file, file.name);
    state.inflight = true;
    updateBusy();
    try {
      await postImage(form, { "X-Requested-With": "mnist-sgd" }, "upload", file.name);
    } finally {
      state.inflight = false;
      updateBusy();
    }
  }

  async function showPreview(file) {
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
      const w = bitmap.width * scale;
      const h = bitmap.height * scale;
      ctx.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    } catch (error) {
      // the browser cannot show this format (TIFF, say): the server may still read it
    }
  }

  function updateBusy() {
    const busy = state.inflight || state.dirty || state.timer !== null;
    document.body.dataset.busy = String(busy);
  }

  // ---- showing the answer --------------------------------------------------------------

  function buildBars(classes) {
    const list = $("bars");
    list.replaceChildren();
    for (const name of classes) {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      label.title = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      track.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "–";
      item.append(label, track, value);
      item.dataset.class = name;
      list.append(item);
    }
  }

  function showResult(answer, source, what) {
    if (answer.classes.join("\n") !== state.classes.join("\n")) {
      state.classes = answer.classes;
      buildBars(answer.classes);
    }
    const label = $("label");
    label.textContent = answer.label;
    label.dataset.source = source;
    label.classList.toggle("long", answer.label.length > 2);
    $("confidence").textContent = t("draw.sure_from", { percent: (100 * answer.probability).toFixed(1), what });
    $("seen").src = `data:image/png;base64,${answer.seen_png}`;
    showNote(answer.note, answer.note_said);
    const items = $("bars").children;
    answer.probabilities.forEach((p, i) => {
      const item = items[i];
      item.classList.toggle("top", i === answer.index);
      item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      item.querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
    });
    state.predictions += 1;
    document.body.dataset.predictions = String(state.predictions);
  }

  function showNote(note, said) {
    // a model of fewer classes than the ten digits calls every drawing one of them: say so
    $("class-note").textContent = note ? t("page.note", { note: window.I18N.say(said, note) }) : "";
    $("class-note").hidden = !note;
  }

  function resetResult() {
    const label = $("label");
    label.textContent = "?";
    label.dataset.source = "";
    label.classList.remove("long");
    $("confidence").textContent = t("draw.idle");
    $("seen").src = NOTHING_SEEN;
    for (const item of $("bars").children) {
      item.classList.remove("top");
      item.querySelector(".fill").style.width = "0";
      item.querySelector(".value").textContent = "–";
    }
  }

  function setStatus(text, isError = false) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  // ---- the run: summary, curves, weights -----------------------------------------------

  const percent = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(2)}%`);

  async function loadInfo() {
    let info;
    try {
      const response = await fetch("/api/info");
      info = await response.json();
      if (!response.ok) throw new Error(info.error);
    } catch (error) {
      $("summary-line").textContent = t("draw.no_summary", { error: error.message });
      return;
    }
    state.classes = info.classes;
    buildBars(info.classes);
    showNote(info.note, info.note_said);
    const model = info.model || {};
    $("summary-line").textContent = t("draw.summary",
      { dataset: info.dataset, model: model.name, metric: nameOf(info.metric), value: percent(info.accuracy) });
    showFacts(info);
    const epochs = info.history.map((row) => row.epoch);
    lineChart($("loss-chart"), epochs, [
      { name: t("draw.series_train"), values: info.history.map((row) => row.train_loss), color: "#2f6fde" },
      { name: t("draw.series_valid"), values: info.history.map((row) => row.valid_loss), color: "#d9480f" },
    ], false);
    $("metric-caption").textContent = t("draw.metric_caption", { metric: nameOf(info.metric) });
    $("metric-chart").setAttribute("aria-label", t("draw.metric_chart", { metric: nameOf(info.metric) }));
    lineChart($("metric-chart"), epochs, [
      { name: nameOf(info.metric), values: info.history.map((row) => row[info.metric]), color: "#2b8a3e" },
    ], true);
    showPlotLinks(info.plots || []);
    if (info.has_weights) loadWeights();
    if (info.collect) setUpCollect(info.classes);
  }

  function showFacts(info) {
    const model = info.model || {};
    const sizes = info.sizes || {};
    const train = info.train || {};
    // [the fact's name (data-fact), its label, its value]
    const facts = [
      ["dataset", t("draw.fact_dataset"), t("draw.fact_dataset_value", { dataset: info.dataset, count: info.classes.length })],
      ["model", t("draw.fact_model"), t("draw.fact_model_value", { name: model.name, count: (model.parameters ?? "?").toLocaleString() })],
      ["loss", t("draw.fact_loss"), info.loss],
      [info.metric, nameOf(info.metric), percent(info.accuracy)],
      ["valid loss", t("draw.fact_valid_loss"), info.valid_loss === null || info.valid_loss === undefined ? "–" : info.valid_loss.toFixed(4)],
      ["epochs", t("draw.fact_epochs"), train.lr ? t("draw.fact_epochs_value", { epochs: info.epochs, lr: train.lr, bs: train.bs }) : String(info.epochs)],
      ["images", t("draw.fact_images"), t("draw.fact_images_value", { train: sizes.train ?? "?", valid: sizes.valid ?? "?" })],
    ];
    const list = $("run-facts");
    list.replaceChildren();
    for (const [term, label, value] of facts) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value ?? "–";
      dd.dataset.fact = term;
      list.append(dt, dd);
    }
  }

  function svgElement(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function lineChart(svg, xs, series, asPercent) {
    svg.replaceChildren();
    const [width, height, left, right, top, bottom] = [320, 180, 52, 10, 20, 24];
    const ys = series.flatMap((s) => s.values).filter((v) => typeof v === "number");
    if (!xs.length || !ys.length) {
      svg.append(svgElement("text", { x: 100, y: 90, class: "tick" }, t("draw.no_epochs")));
      return;
    }
    let [low, high] = [Math.min(...ys), Math.max(...ys)];
    if (high - low < 1e-9) { low -= 0.5 * Math.abs(low || 1); high += 0.5 * Math.abs(high || 1); }
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const px = (x) => left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - left - right);
    const py = (y) => top + (1 - (y - low) / (high - low)) * (height - top - bottom);
    svg.append(svgElement("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }));
    svg.append(svgElement("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }));
    const span = asPercent ? 100 * (high - low) : high - low;
    const digits = Math.min(6, Math.max(asPercent ? 1 : 2, Math.ceil(-Math.log10(span / 2))));
    for (const y of [low, (low + high) / 2, high]) {
      const text = asPercent ? `${(100 * y).toFixed(digits)}%` : y.toFixed(digits);
      svg.append(svgElement("text", { x: left - 4, y: py(y) + 3, "text-anchor": "end", class: "tick" }, text));
    }
    const ends = x1 === x0 ? [[x0, "middle"]] : [[x0, "start"], [x1, "end"]];
    for (const [x, anchor] of ends) {
      svg.append(svgElement("text", { x: px(x), y: height - 8, "text-anchor": anchor, class: "tick" }, t("draw.axis_epoch", { epoch: x })));
    }
    series.forEach((s, k) => {
      const points = xs.map((x, i) => [x, s.values[i]]).filter(([, y]) => typeof y === "number");
      svg.append(svgElement("polyline", {
        points: points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" "),
        class: "series", stroke: s.color,
      }));
      for (const [x, y] of points) svg.append(svgElement("circle", { cx: px(x), cy: py(y), r: 2.5, fill: s.color }));
      svg.append(svgElement("text", { x: width - right - 4, y: 12 + 12 * k, "text-anchor": "end", class: "legend", fill: s.color }, s.name));
    });
  }

  async function loadWeights() {
    let pictures;
    try {
      const response = await fetch("/api/weights");
      if (!response.ok) return;
      pictures = await response.json();
    } catch (error) {
      return;
    }
    const captions = pictures.captions_said ? pictures.captions_said.map((said) => window.I18N.say(said)) : pictures.captions;
    drawPictures($("weights"), pictures.weights, pictures.scale, captions);
    $("weights-scale").textContent = t("draw.scale", { scale: pictures.scale.toPrecision(3) });
    const change = pictures.change !== undefined;
    $("change-block").hidden = !change;
    if (change) {
      drawPictures($("change"), pictures.change, pictures.change_scale, captions);
      $("change-scale").textContent = t("draw.scale", { scale: pictures.change_scale.toPrecision(3) });
    }
    $("weights-block").hidden = false;
  }

  // One 28x28 picture per row, on a diverging scale centred on 0: red +, white 0, blue −.
  function drawPictures(holder, rows, scaleOf, captions) {
    holder.replaceChildren();
    const scale = scaleOf || 1;
    rows.forEach((row, i) => {
      const figure = document.createElement("figure");
      const picture = document.createElement("canvas");
      picture.width = 28;
      picture.height = 28;
      const image = picture.getContext("2d").createImageData(28, 28);
      row.forEach((w, p) => {
        const t = Math.max(-1, Math.min(1, (w ?? 0) / scale));
        const fade = Math.round(255 * (1 - Math.abs(t)));
        image.data.set(t >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * p);
      });
      picture.getContext("2d").putImageData(image, 0, 0);
      const caption = document.createElement("figcaption");
      caption.textContent = captions[i];
      figure.append(picture, caption);
      holder.append(figure);
    });
  }

  function showPlotLinks(names) {
    const holder = $("plot-links");
    holder.replaceChildren();
    if (!names.length) return;
    holder.append(t("draw.plots"));
    names.forEach((name, i) => {
      const link = document.createElement("a");
      link.href = `/api/plots/${encodeURIComponent(name)}`;
      link.textContent = name;
      holder.append(i ? ", " : "", link);
    });
  }

  // ---- wiring --------------------------------------------------------------------------

  async function setUp() {
    await window.I18N.ready;
    redraw();
    canvas.addEventListener("pointerdown", onPointerDown);
    canvas.addEventListener("pointermove", onPointerMove);
    canvas.addEventListener("pointerup", onPointerUp);
    canvas.addEventListener("pointercancel", onPointerUp);
    $("undo").addEventListener("click", undo);
    $("clear").addEventListener("click", startOver);
    $("file").addEventListener("change", (event) => {
      upload(event.target.files[0]);
      event.target.value = "";
    });
    const zone = document.body;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      $("drop-zone").classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => $("drop-zone").classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      $("drop-zone").classList.remove("dragging");
      upload(event.dataTransfer.files[0]);
    });
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
      if (event.key === "Escape") startOver();
    });
    loadInfo();
  }

  setUp();
})();
