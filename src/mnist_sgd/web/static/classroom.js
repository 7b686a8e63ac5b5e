// mnist-sgd studio, for the classroom: a speed control (the server paces the training), three
// learning-rate presets with the chapter's model, and the chapter's own picture of the learning
// rate: fastbook's quadratic SGD example stepped at three learning rates side by side.
// Every visible string of these features is in TEXTS (for the i18n catalogue).
"use strict";

(() => {
  const TEXTS = {
    speed: "speed",
    speedTitle: "batches a second: slow for a class to watch; the results are the same at any speed",
    full: "full speed",
    perSecond: (n) => `${n} batch${n === 1 ? "" : "es"}/s`,
    presets: "lr presets:",
    presetNames: { "too-small": "too small", "about-right": "about right", "too-large": "too large" },
    watch: {
      "too-small": (p) => `lr ${p.lr}: watch the loss line stay almost flat; each step moves the weights too little to learn in ${p.epochs} epochs.`,
      "about-right": (p) => `lr ${p.lr}, the book's: watch the loss fall fast in the first epoch and the accuracy climb past 90%.`,
      "too-large": (p) => `lr ${p.lr}: watch the loss jump and then sit still at chance (50%); the sigmoid saturates, and the run is marked stuck after its first epoch.`,
    },
    presetSet: "Set: press Train.",
    quadTitle: "The chapter's picture: SGD fits a parabola at three learning rates",
    quadIntro: "fastbook chapter 4, \"An End-to-End SGD Example\": a roller coaster's speed over 20 seconds (dots), a quadratic a·t² + b·t + c (line) fitted with torch autograd on the server, from the same start at three learning rates. Play goes at the speed control's pace.",
    panelNames: ["too small", "the book's", "too large"],
    step: "Step",
    play: "Play",
    pause: "Pause",
    reset: "Reset",
    stepOf: (i, n) => `step ${i} of ${n}`,
    loss: (value) => `loss ${value}`,
    lossGrows: "growing",
    overflow: "overflowed",
    axisTime: "time (s)",
    axisSpeed: "speed",
    loadFailed: (why) => `cannot load the example: ${why}`,
  };

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

  // ---- speed -------------------------------------------------------------------------------

  function speedValue() {
    const select = $("speed");
    return !select || select.value === "full" ? null : Number(select.value);
  }

  function addSpeed() {
    const select = el("select", { id: "speed", title: TEXTS.speedTitle });
    for (const s of SPEEDS) select.append(new Option(s === null ? TEXTS.full : TEXTS.perSecond(s), s === null ? "full" : String(s)));
    select.value = "full";
    select.addEventListener("change", onSpeed);
    $("options").append(el("label", { className: "speed" }, TEXTS.speed, select));
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
    const row = el("div", { className: "presets", id: "presets" }, el("span", { className: "muted" }, TEXTS.presets));
    for (const [name, preset] of Object.entries(presets)) {
      const button = el("button", { type: "button", id: `preset-${name}`, textContent: TEXTS.presetNames[name] || name });
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
    const watch = TEXTS.watch[name];
    $("preset-note").textContent = `${watch ? watch(preset) : ""} ${TEXTS.presetSet}`.trim();
    $("preset-note").hidden = false;
    for (const b of document.querySelectorAll("#presets button")) b.classList.toggle("chosen", b.dataset.preset === name);
    document.body.dataset.preset = name;
  }

  // ---- the quadratic example -----------------------------------------------------------------

  const quad = { panels: [], step: 0, steps: QUAD_STEPS, timer: null, playing: false };

  async function addQuadratic(lrs) {
    const card = $("quadratic-card");
    const play = el("button", { type: "button", id: "quad-play", textContent: TEXTS.play });
    const buttons = el("div", { className: "buttons" },
      el("button", { type: "button", id: "quad-step", textContent: TEXTS.step, onclick: () => { stopPlay(); advance(); } }),
      play,
      el("button", { type: "button", id: "quad-reset", textContent: TEXTS.reset, onclick: () => { stopPlay(); show(0); } }));
    play.addEventListener("click", () => (quad.playing ? stopPlay() : startPlay()));
    const row = el("div", { className: "quad-panels", id: "quad-panels" });
    card.append(el("h2", { id: "quadratic-title", textContent: TEXTS.quadTitle }),
      el("p", { className: "muted", textContent: TEXTS.quadIntro }), buttons, row);
    quad.panels = lrs.map((lr, i) => {
      const canvas = el("canvas", { width: 320, height: 220 });
      const line = el("p", { className: "quad-line" });
      const panel = el("figure", { className: "quad-panel" },
        el("figcaption", { textContent: `${TEXTS.panelNames[i] || ""} · lr ${Number(lr).toExponential()}` }), canvas, line);
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
      card.append(el("p", { className: "message", textContent: TEXTS.loadFailed(error.message) }));
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
    const perSecond = speedValue() || FULL_STEPS_S;
    quad.playing = true;
    $("quad-play").textContent = TEXTS.pause;
    quad.timer = setInterval(advance, 1000 / perSecond);
  }

  function stopPlay() {
    clearInterval(quad.timer);
    quad.playing = false;
    if ($("quad-play")) $("quad-play").textContent = TEXTS.play;
  }

  function show(step) {
    quad.step = step;
    for (const p of quad.panels) {
      if (!p.data) continue;
      const record = p.data.steps[step];
      drawPanel(p, record);
      const loss = record.loss;
      const grows = step > 0 && loss !== null && p.data.steps[step - 1].loss !== null && loss > p.data.steps[step - 1].loss;
      const said = loss === null ? TEXTS.overflow : formatLoss(loss) + (grows ? ` (${TEXTS.lossGrows})` : "");
      p.line.textContent = `${TEXTS.stepOf(step, quad.steps)} · ${TEXTS.loss(said)}`;
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
    const px = (t) => left + (t / 19) * (w - left - right);
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
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(TEXTS.axisTime, (left + w - right) / 2, h - 6);
    for (const t of [0, 5, 10, 15]) ctx.fillText(String(t), px(t), h - bottom + 12);
    ctx.textAlign = "right";
    for (const y of [0, Math.round(high / 2), Math.round(high)]) ctx.fillText(String(y), left - 4, py(y) + 4);
    ctx.save();
    ctx.translate(10, (top + h - bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(TEXTS.axisSpeed, 0, 0);
    ctx.restore();
    ctx.fillStyle = "#1d1f21";  // the data: the book's scatter
    time.forEach((t, i) => {
      ctx.beginPath();
      ctx.arc(px(t), py(speed[i]), 3, 0, 2 * Math.PI);
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
      const t = i / 10;
      const y = Math.max(low - 1e4, Math.min(high + 1e4, a * t * t + b * t + c));
      if (i === 0) ctx.moveTo(px(t), py(y)); else ctx.lineTo(px(t), py(y));
    }
    ctx.stroke();
    ctx.restore();
  }

  // ---- wiring ------------------------------------------------------------------------------

  async function setUp() {
    const response = await fetch("/api/choices");
    if (!response.ok) return;
    const choices = await response.json();
    addSpeed();
    addPresets(choices.presets || {});
    await addQuadratic(choices.quadratic_lrs || []);
    document.body.dataset.classroom = "ready";
  }

  window.classroom = { trainOptions: () => ({ speed: speedValue() }) };
  setUp();
})();
