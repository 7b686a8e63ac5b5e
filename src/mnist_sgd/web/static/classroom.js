// mnist-sgd studio, for the classroom: a speed control (the server paces the training), three
// learning-rate presets with the chapter's model, and the chapter's own picture of the learning
// rate: fastbook's quadratic SGD example stepped at three learning rates side by side.
// Every visible string of these features comes by key from the catalogue: t() of i18n.js;
// a preset's name and note are preset.<name> and preset_note.<name>.
"use strict";

(() => {
  const { t } = window.I18N;   // every text from the catalogue (i18n.js, i18n/en.json, ko.json)
  const FORMULA = "a·t² + b·t + c";   // the book's f(t, params): code, the same in every language
  const PANEL_NAMES = ["preset.too-small", "classroom.book_lr", "preset.too-large"];  // keys

  const SPEEDS = [1, 2, 5, 10, 50, null];  // batches (and parabola steps) a second; null: full
  const FULL_STEPS_S = 30;                  // Play at full speed: this many parabola steps a second
  const QUAD_STEPS = 100;
  const PANEL_COLORS = ["#7048e8", "#2b8a3e", "#c92a2a"];
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };

  // the text of key; fallback where the catalogue has none (a preset the server added since)
  const known = (key, fallback, params = {}) => (t(key) === key ? fallback : t(key, params));
  const perSecond = (n) => t(n === 1 ? "classroom.per_second_one" : "classroom.per_second", { n });

  // the paragraph with the text of key, its {formula} set in <code>
  function withFormula(paragraph, key) {
    const [before, after = ""] = t(key).split("{formula}");
    paragraph.append(before, el("code", { className: "formula", textContent: FORMULA }), after);
    return paragraph;
  }

  // ---- speed -------------------------------------------------------------------------------

  function speedValue() {
    const select = $("speed");
    return !select || select.value === "full" ? null : Number(select.value);
  }

  function addSpeed() {
    const select = el("select", { id: "speed", title: t("classroom.speed_title") });
    for (const s of SPEEDS) select.append(new Option(s === null ? t("classroom.full_speed") : perSecond(s), s === null ? "full" : String(s)));
    select.value = "full";
    select.addEventListener("change", onSpeed);
    $("options").append(el("label", { className: "speed" }, el("span", { textContent: t("classroom.speed") }), " ", select));
  }

  async function onSpeed() {
    document.body.dataset.speed = $("speed").value;
    if (quad.playing) startPlay(true);  // re-timed at the new pace
    const current = window.studio && window.studio.current();
    if (!current || !["loading", "running", "paused"].includes(current.state)) return;
    await fetch(`/api/train/${current.id}/speed`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ speed: speedValue() }),
    });  // a training that ends meanwhile keeps the answer to itself
  }

  function setSpeed(speed) {
    $("speed").value = speed === null ? "full" : String(speed);
    if ($("speed").value === "") $("speed").value = "full";
    onSpeed();
  }

  // ---- presets -----------------------------------------------------------------------------

  function addPresets(presets) {
    const row = el("div", { className: "presets", id: "presets" }, el("span", { className: "muted" }, t("classroom.presets")));
    for (const [name, preset] of Object.entries(presets)) {
      const button = el("button", { type: "button", id: `preset-${name}`, textContent: known(`preset.${name}`, name) });
      button.dataset.preset = name;
      button.addEventListener("click", () => usePreset(name, preset));
      row.append(button);
    }
    const note = el("p", { id: "preset-note", className: "note", hidden: true });
    note.setAttribute("role", "note");
    $("options").after(row, note);
    // a preset's note goes when its options do: another option picked by hand, or Reset
    $("options").addEventListener("input", (e) => { if (e.target.id !== "speed") forgetPreset(); });
    $("recipe").addEventListener("change", forgetPreset);
    $("reset").addEventListener("click", forgetPreset);
  }

  function forgetPreset() {
    $("preset-note").hidden = true;
    for (const b of document.querySelectorAll("#presets button")) b.classList.remove("chosen");
    delete document.body.dataset.preset;
  }

  function usePreset(name, preset) {
    const { speed, std, ...options } = preset;
    $("recipe").value = "";
    window.studio.applyOptions({ ...options, model_kwargs: std === undefined ? {} : { std } });
    setSpeed(speed);
    const note = known(`preset_note.${name}`, "", { lr: preset.lr, epochs: preset.epochs });
    $("preset-note").textContent = `${note} ${t("classroom.preset_set")}`.trim();
    $("preset-note").hidden = false;
    for (const b of document.querySelectorAll("#presets button")) b.classList.toggle("chosen", b.dataset.preset === name);
    document.body.dataset.preset = name;
  }

  // ---- the quadratic example -----------------------------------------------------------------

  const quad = { panels: [], step: 0, steps: QUAD_STEPS, timer: null, playing: false };

  async function addQuadratic(lrs) {
    const card = $("quadratic-card");
    const play = el("button", { type: "button", id: "quad-play", textContent: t("classroom.play") });
    const buttons = el("div", { className: "buttons" },
      el("button", { type: "button", id: "quad-step", textContent: t("studio.step"), onclick: () => { stopPlay(); advance(); } }),
      play,
      el("button", { type: "button", id: "quad-reset", textContent: t("studio.reset"), onclick: () => { stopPlay(); show(0); } }));
    play.addEventListener("click", () => (quad.playing ? stopPlay() : startPlay()));
    const row = el("div", { className: "quad-panels", id: "quad-panels" });
    card.append(el("h2", { id: "quadratic-title", textContent: t("classroom.quad_title") }),
      withFormula(el("p", { className: "muted" }), "classroom.quad_intro"), buttons, row);
    quad.panels = lrs.map((lr, i) => {
      const canvas = el("canvas", { width: 320, height: 220 });
      const line = el("p", { className: "quad-line" });
      const panel = el("figure", { className: "quad-panel" },
        el("figcaption", { textContent: t("classroom.panel_caption", { name: PANEL_NAMES[i] ? t(PANEL_NAMES[i]) : "", lr: Number(lr).toExponential() }) }), canvas, line);
      panel.style.borderTopColor = PANEL_COLORS[i % PANEL_COLORS.length];
      panel.dataset.lr = String(lr);
      row.append(panel);
      return { lr, panel, canvas, line, color: PANEL_COLORS[i % PANEL_COLORS.length], data: null };
    });
    try {
      await Promise.all(quad.panels.map(async (p) => {
        const response = await fetch(`/api/quadratic?lr=${p.lr}&steps=${QUAD_STEPS}`);
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.error || String(response.status));
        p.data = answer;
      }));
    } catch (error) {
      card.append(el("p", { className: "message", textContent: t("classroom.load_failed", { error: error.message }) }));
      return;
    }
    show(0);
    card.dataset.ready = "true";
  }

  function advance() {
    if (quad.step < quad.steps) show(quad.step + 1);
    if (quad.step >= quad.steps) stopPlay();  // Play ends on the last step
  }

  function startPlay(restart = false) {
    if (restart) clearInterval(quad.timer);
    else if (quad.step >= quad.steps) show(0);
    const stepsPerSecond = speedValue() || FULL_STEPS_S;
    quad.playing = true;
    $("quad-play").textContent = t("studio.pause");
    quad.timer = setInterval(advance, 1000 / stepsPerSecond);
  }

  function stopPlay() {
    clearInterval(quad.timer);
    quad.playing = false;
    if ($("quad-play")) $("quad-play").textContent = t("classroom.play");
  }

  function show(step) {
    quad.step = step;
    for (const p of quad.panels) {
      if (!p.data) continue;
      const record = p.data.steps[step];
      drawPanel(p, record);
      const loss = record.loss;
      const grows = step > 0 && loss !== null && p.data.steps[step - 1].loss !== null && loss > p.data.steps[step - 1].loss;
      const said = loss === null ? t("classroom.overflowed")
        : grows ? t("classroom.loss_growing", { loss: formatLoss(loss) }) : formatLoss(loss);
      p.line.textContent = t("classroom.panel_line", { step, steps: quad.steps, loss: said });
      p.panel.dataset.step = String(step);
      p.panel.dataset.loss = loss === null ? "inf" : String(loss);
    }
    $("quadratic-card").dataset.step = String(step);
  }

  function formatLoss(x) {
    return Math.abs(x) >= 1e6 ? x.toExponential(2) : x.toLocaleString("en-US", { maximumFractionDigits: 1 });
  }

  function drawPanel(p, record) {
    const ctx = p.canvas.getContext("2d");
    const [w, h, left, bottom, top, right] = [p.canvas.width, p.canvas.height, 40, 30, 10, 10];
    const { time, speed } = p.data;
    const ys = speed.filter(Number.isFinite);
    const [low, high] = [Math.min(0, ...ys) - 30, Math.max(...ys) + 10];  // room for a parabola bent down
    const px = (second) => left + (second / 19) * (w - left - right);
    const py = (y) => top + (1 - (y - low) / (high - low)) * (h - top - bottom);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fbfbfa";
    ctx.fillRect(0, 0, w, h);
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
    ctx.fillText(t("classroom.axis_time"), (left + w - right) / 2, h - 6);
    for (const tick of [0, 5, 10, 15]) ctx.fillText(String(tick), px(tick), h - bottom + 12);
    ctx.textAlign = "right";
    for (const y of [0, Math.round(high / 2), Math.round(high)]) ctx.fillText(String(y), left - 4, py(y) + 4);
    ctx.save();
    ctx.translate(10, (top + h - bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(t("classroom.axis_speed"), 0, 0);
    ctx.restore();
    ctx.fillStyle = "#1d1f21";  // the data: the book's scatter
    time.forEach((second, i) => {
      ctx.beginPath();
      ctx.arc(px(second), py(speed[i]), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
    const [a, b, c] = record.params;  // the current parabola, clipped to the plot
    if (![a, b, c].every((v) => v !== null && Number.isFinite(v))) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, w - left - right, h - top - bottom);
    ctx.clip();
    ctx.strokeStyle = p.color;
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    for (let i = 0; i <= 190; i += 1) {
      const x = i / 10;
      const y = Math.max(low - 1e4, Math.min(high + 1e4, a * x * x + b * x + c));
      if (i === 0) ctx.moveTo(px(x), py(y)); else ctx.lineTo(px(x), py(y));
    }
    ctx.stroke();
    ctx.restore();
  }

  // ---- wiring ------------------------------------------------------------------------------

  async function setUp() {
    await window.I18N.ready;
    const response = await fetch("/api/choices");
    if (!response.ok) return;
    const choices = await response.json();
    addSpeed();
    const current = window.studio && window.studio.current();
    if (current) showSpeed(current.speed);  // a run followed before this control existed
    addPresets(choices.presets || {});
    await addQuadratic(choices.quadratic_lrs || []);
    document.body.dataset.classroom = "ready";
  }

  function showSpeed(speed) {  // the followed run's pace, as the server has it: no request
    const select = $("speed");
    if (!select || speed === undefined) return;
    const value = speed === null ? "full" : String(speed);
    if (![...select.options].some((o) => o.value === value)) select.append(new Option(perSecond(speed), value));
    select.value = value;
    document.body.dataset.speed = value;
  }

  window.classroom = { trainOptions: () => ({ speed: speedValue() }), showSpeed };
  setUp();
})();
