// mnist-sgd pages in the reader's language: the choice (the switch's, kept in localStorage,
// else the browser's first of English or Korean), the catalogue from GET /api/strings/{lang}
// (mnist_sgd/i18n/en.json, ko.json: one home for every text), and t(key, params) for the
// pages' scripts. Elements name their text by key: data-i18n (text), data-i18n-title,
// data-i18n-aria-label, data-i18n-alt. Loaded before the page's own script, which awaits
// I18N.ready before it writes any text.
"use strict";

(() => {
  const LANGS = ["en", "ko"];
  const NAMES = { en: "English", ko: "한국어" };   // each language by its own name, not translated
  const STORE = "mnist-sgd-lang";
  const FONTS = {
    en: "system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif",
    ko: "NanumGothic, \"Noto Sans CJK KR\", \"Malgun Gothic\", \"Apple SD Gothic Neo\", sans-serif",
  };
  const ATTRIBUTES = ["title", "aria-label", "alt"];

  function saved() {
    try { return localStorage.getItem(STORE); } catch (error) { return null; }
  }

  function choose() {
    if (LANGS.includes(saved())) return saved();
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const primary = tag.toLowerCase().split("-")[0];
      if (LANGS.includes(primary)) return primary;
    }
    return LANGS[0];
  }

  const lang = choose();
  let strings = {};
  document.documentElement.lang = lang;

  function t(key, params = {}) {
    const text = strings[key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] === undefined ? whole : String(params[name])));
  }

  // A message the server made by key ({key, params}); its English text when it has no key.
  function say(said, english) {
    return said && strings[said.key] !== undefined ? t(said.key, said.params) : (english || "");
  }

  function apply(root) {
    for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
    for (const name of ATTRIBUTES) {
      for (const element of root.querySelectorAll(`[data-i18n-${name}]`)) {
        element.setAttribute(name, t(element.getAttribute(`data-i18n-${name}`)));
      }
    }
  }

  function buildSwitch() {
    const holder = document.getElementById("lang-switch");
    if (!holder) return;
    holder.setAttribute("aria-label", t("page.lang_switch"));
    holder.replaceChildren(...LANGS.map((code) => {
      const button = document.createElement("button");
      button.type = "button";
      button.lang = code;
      button.textContent = NAMES[code];
      button.dataset.lang = code;
      button.setAttribute("aria-pressed", String(code === lang));
      button.addEventListener("click", () => {
        try { localStorage.setItem(STORE, code); } catch (error) { /* this visit only */ }
        if (code !== lang) location.reload();
      });
      return button;
    }));
  }

  async function load() {
    try {
      const response = await fetch(`/api/strings/${lang}`);
      if (response.ok) strings = await response.json();
    } catch (error) {
      // no catalogue: the keys show, and the page still works
    }
    if (lang === "ko" && document.fonts) {
      try { await document.fonts.load("16px NanumGothic", "한"); } catch (error) { /* a fallback font */ }
    }
    if (document.readyState === "loading") await new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve));
    apply(document);
    buildSwitch();
    document.documentElement.dataset.i18n = lang;
  }

  window.I18N = { lang, t, say, apply, font: FONTS[lang], ready: load() };
})();
