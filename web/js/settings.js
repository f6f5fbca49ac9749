// User settings: load from / save to /api/settings/me (debounced), theme application,
// and the settings dialog (native <dialog>: focus is trapped, Escape closes it).
//
// Events on Settings: 'change' {fields: [...]}, 'invalid' {field, message}

import { api, ApiError } from './api.js';
import { h } from './dom.js';

const THEME_KEY = 'ballsy.theme';
const FIELDS = ['voice', 'voice_speed', 'theme', 'auto_listen', 'language', 'speak_replies', 'home_city', 'units'];
const SPEAK_REPLIES = ['voice', 'always', 'never'];
const COMMON_LANGS = ['en-US', 'en-GB', 'en-AU', 'en-IN', 'es-ES', 'es-MX', 'fr-FR', 'de-DE', 'it-IT',
  'pt-BR', 'nl-NL', 'pl-PL', 'tr-TR', 'ru-RU', 'hi-IN', 'ja-JP', 'ko-KR', 'zh-CN'];

const darkQuery = () => globalThis.matchMedia?.('(prefers-color-scheme: dark)');

function storedTheme() {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === 'light' || t === 'dark' || t === 'system' ? t : 'system';
  } catch {
    return 'system';
  }
}

/** Apply a theme preference to <html data-theme="light|dark" data-theme-pref="…">. */
export function applyTheme(pref) {
  const resolved = pref === 'light' || pref === 'dark' ? pref : (darkQuery()?.matches ? 'dark' : 'light');
  const root = document.documentElement;
  root.dataset.theme = resolved;
  root.dataset.themePref = pref || 'system';
  const meta = document.querySelector('meta[name="theme-color"]:not([media])');
  if (meta) meta.content = resolved === 'dark' ? '#0d0f16' : '#f4f5fb';
  try { localStorage.setItem(THEME_KEY, pref || 'system'); } catch { /* private mode */ }
  return resolved;
}

export class Settings extends EventTarget {
  constructor() {
    super();
    const lang = navigator.language || 'en-US';
    this.values = { voice: '', voice_speed: 175, theme: storedTheme(), auto_listen: false, language: lang, speak_replies: 'voice', home_city: '', units: 'auto' };
    this.server = { ...this.values };
    this.loaded = false;
    this._patch = {};
    this._timer = 0;
    applyTheme(this.values.theme);
    darkQuery()?.addEventListener?.('change', () => {
      if (this.values.theme === 'system') applyTheme('system');
    });
    window.addEventListener('pagehide', () => this.flush({ keepalive: true }));
  }

  async load() {
    const r = await api('/api/settings/me');
    this._accept(r?.settings || {}, true);
    this.loaded = true;
  }

  /** Change one field locally now and save it soon. */
  set(field, value) {
    if (!FIELDS.includes(field) || this.values[field] === value) return;
    this.values[field] = value;
    this._patch[field] = value;
    if (field === 'theme') applyTheme(value);
    this._emit('change', { fields: [field] });
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.flush(), 500);
  }

  async flush({ keepalive = false } = {}) {
    clearTimeout(this._timer);
    const patch = this._patch;
    if (!Object.keys(patch).length) return;
    this._patch = {};
    try {
      const r = await api('/api/settings/me', { method: 'PUT', json: patch, keepalive });
      this._accept(r?.settings || {}, false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        const field = e.field && FIELDS.includes(e.field) ? e.field : Object.keys(patch)[0];
        this._emit('invalid', { field, message: e.detail || 'That value is not allowed.' });
        // Revert the rejected fields to what the server has.
        const revert = {};
        for (const k of Object.keys(patch)) if (!(k in this._patch)) revert[k] = this.server[k];
        this._accept({ ...this.server, ...revert }, false);
      } else {
        // Keep the unsaved fields and try again later.
        this._patch = { ...patch, ...this._patch };
        this._emit('invalid', { field: null, message: "Couldn't save settings. Will retry." });
        clearTimeout(this._timer);
        this._timer = setTimeout(() => this.flush(), 5000);
      }
    }
  }

  /** Drop unsaved edits (the user is being forgotten: nothing may be written back). */
  discard() {
    clearTimeout(this._timer);
    this._patch = {};
  }

  /** Take server values; fields with unsaved local edits keep the local value. */
  _accept(s, initial) {
    const changed = [];
    for (const k of FIELDS) {
      if (!(k in s)) continue;
      let v = s[k];
      if (k === 'voice_speed') v = Number(v) || 175;
      if (k === 'auto_listen') v = !!v;
      if (k === 'theme' && !['light', 'dark', 'system'].includes(v)) v = 'system';
      if (k === 'speak_replies' && !SPEAK_REPLIES.includes(v)) v = 'voice';
      if ((k === 'voice' || k === 'language') && typeof v !== 'string') v = k === 'voice' ? '' : this.values.language;
      if (k === 'language' && !v) v = navigator.language || 'en-US';
      if (k === 'home_city' && typeof v !== 'string') v = '';
      if (k === 'units' && !['auto', 'metric', 'imperial'].includes(v)) v = 'auto';
      this.server[k] = v;
      if (k in this._patch) continue;
      if (this.values[k] !== v) {
        this.values[k] = v;
        changed.push(k);
      }
    }
    if (changed.includes('theme') || initial) applyTheme(this.values.theme);
    if (changed.length || initial) this._emit('change', { fields: changed });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function languageLabel(tag) {
  try {
    const dn = new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' });
    const name = dn.of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch {
    return tag;
  }
}

/** Wire the settings <dialog> to a Settings store and the speaker (for the voice list). */
export function bindSettingsPanel({ settings, speaker, dialog, openButton, onClose }) {
  const q = (id) => dialog.querySelector(`[data-testid="${id}"]`);
  const voiceSel = q('setting-voice');
  const speed = q('setting-speed');
  const speedOut = dialog.querySelector('#speed-value');
  const themeSel = q('setting-theme');
  const auto = q('setting-auto-listen');
  const langSel = q('setting-language');
  const speakSel = q('setting-speak-replies');
  const errorEl = dialog.querySelector('#settings-error');

  const fillVoices = () => {
    const current = settings.values.voice;
    const lang = (settings.values.language || '').toLowerCase();
    const primary = lang.split('-')[0];
    const voices = speaker.voices().slice().sort((a, b) => {
      const rank = (v) => (v.lang?.toLowerCase() === lang ? 0 : v.lang?.toLowerCase().startsWith(primary) ? 1 : 2);
      return rank(a) - rank(b) || a.name.localeCompare(b.name);
    });
    const opts = [h('option', { value: '', text: 'Browser default' })];
    const seen = new Set();
    for (const v of voices) {
      if (seen.has(v.name)) continue;
      seen.add(v.name);
      opts.push(h('option', { value: v.name, text: `${v.name} (${v.lang})` }));
    }
    if (current && !seen.has(current)) opts.push(h('option', { value: current, text: `${current} (not on this device)` }));
    voiceSel.replaceChildren(...opts);
    voiceSel.value = current;
  };

  const fillLanguages = () => {
    const current = settings.values.language;
    const browser = [...new Set([navigator.language, ...(navigator.languages || [])].filter(Boolean))];
    const tags = [...new Set([...browser, ...COMMON_LANGS, current].filter(Boolean))];
    langSel.replaceChildren(...tags.map((t) =>
      h('option', { value: t, text: languageLabel(t) + (browser.includes(t) ? ' · browser' : '') })));
    langSel.value = current;
  };

  const showSpeed = (wpm) => {
    speedOut.textContent = `${wpm} wpm · ${(wpm / 175).toFixed(2)}×`;
    speed.setAttribute('aria-valuetext', `${wpm} words per minute`);
  };

  const sync = () => {
    fillVoices();
    fillLanguages();
    speed.value = String(settings.values.voice_speed);
    showSpeed(settings.values.voice_speed);
    themeSel.value = settings.values.theme;
    auto.checked = settings.values.auto_listen;
    speakSel.value = settings.values.speak_replies;
  };

  // Edits made here don't need to re-render the panel (which would fight a slider drag).
  let editing = false;
  const edit = (field, value) => {
    editing = true;
    try { settings.set(field, value); } finally { editing = false; }
  };
  voiceSel.addEventListener('change', () => edit('voice', voiceSel.value));
  speed.addEventListener('input', () => {
    const v = Number(speed.value);
    showSpeed(v);
    edit('voice_speed', v);
  });
  themeSel.addEventListener('change', () => edit('theme', themeSel.value));
  auto.addEventListener('change', () => edit('auto_listen', auto.checked));
  speakSel.addEventListener('change', () => edit('speak_replies', speakSel.value));
  langSel.addEventListener('change', () => {
    edit('language', langSel.value);
    fillVoices();
  });

  settings.addEventListener('change', () => { if (!editing) sync(); });
  settings.addEventListener('invalid', (e) => {
    errorEl.textContent = e.detail.message;
    errorEl.hidden = false;
    sync();
  });
  speaker.onVoicesChanged(fillVoices);

  openButton.addEventListener('click', () => {
    errorEl.hidden = true;
    sync();
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
  });
  dialog.addEventListener('close', () => {
    settings.flush();
    openButton.focus();
    onClose?.();
  });
  // Click on the backdrop closes too.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  sync();
}
