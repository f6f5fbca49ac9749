/*
 * Ballsy page entry module: the only <script>; everything else is imported from ./js/.
 * Nothing is global except the read-only test handle window.__ballsy.
 *
 * TEST HOOKS (stable; browser tests rely on them)
 * data-testid:
 *   orb, mic-button, text-input, send-button, chat-log, status-line, interim (live transcript),
 *   message        each bubble: data-role="user|assistant",
 *                  data-status="streaming|complete|interrupted|failed", data-source (assistant)
 *   action-card    open_url/search card in an assistant bubble, data-action; holds
 *                  <a href target="_blank" rel="noopener noreferrer">
 *   action-note    open_app explanation in an assistant bubble
 *   connection-indicator  data-state="connected|connecting|disconnected|idle"
 *   offline-badge  [hidden] unless the server runs without Gemini
 *   settings-button, settings-panel (<dialog>), setting-voice, setting-speed, setting-theme,
 *   setting-auto-listen, setting-language, new-conversation,
 *   review-toggle  "Review before sending" checkbox (localStorage)
 *   live-switch    the Live switch (a role=switch checkbox; its <label> is [hidden] unless
 *                  GET /api/session says features.live and the browser can run Live)
 *   notice         each toast, data-tone="info|warn|error"
 * <html data-theme="light|dark" data-theme-pref="light|dark|system">
 * <body data-orb-state="idle|listening|thinking|speaking|error">
 * <body data-live="off|starting|connecting|ready|reconnecting|paused"> once Live was used;
 *   the orb's --orb-level (0..1) follows the voice while Live is on
 * window.__ballsy (frozen):
 *   state.deltaCount  response_delta frames received for the latest reply (reset per command)
 *   state.orbState, .connection, .listening, .speaking, .pending, .mode, .clientId,
 *   state.settings (copy), state.spoken (recent chunks given to speechSynthesis)
 *   sentFrames        last 50 frames sent on the socket, parsed objects, oldest first
 *   socket            the VoiceSocket
 *   live              Live mode (js/live.js, js/live-view.js): .state, .ready, .muted, .playing,
 *                     .stats {sentFrames, sentBytes, droppedFrames, receivedFrames, receivedBytes,
 *                     connects}, .player {chunks, samples, underruns, stops, stoppedSources},
 *                     .level {input, output}
 * SpeechRecognition / webkitSpeechRecognition / speechSynthesis are looked up when used, so
 * stubs injected before this script work; recognition handlers are on* properties and, if
 * available, addEventListener (each event object handled once).
 * Auto-listen restarts Web Speech recognition after a reply is spoken; it never starts a
 * MediaRecorder recording (that path has no end-of-speech detection).
 */

import { api, describeError, retrySeconds } from './js/api.js';
import { ChatView, Bubble, safeHttpUrl, searchUrl } from './js/chat.js';
import { byTestId, backoffDelay, isInteractiveTarget, randomId, sleep } from './js/dom.js';
import { Listener, extensionFor } from './js/listen.js';
import { LiveVoice, liveSupported } from './js/live.js';
import { LiveView } from './js/live-view.js';
import { Settings, bindSettingsPanel } from './js/settings.js';
import { VoiceSocket } from './js/socket.js';
import { Speaker } from './js/speech.js';
import { UI } from './js/ui.js';

const TIMEZONE = (() => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
})();
const REPLY_TIMEOUT_MS = 60_000;
const REVIEW_KEY = 'ballsy.review';
// Errors the server may send without an id that still belong to the command in flight.
const COMMAND_ERRORS = new Set(['rate_limited', 'invalid_command', 'command_too_long', 'busy', 'storage_unavailable', 'internal']);

// ---------- state ----------

const app = {
  mode: 'unknown',
  limits: { max_command_chars: 1000, max_upload_bytes: 2_097_152, ws_idle_timeout_secs: 300 },
  deltaCount: 0,
  listening: false,
  active: null, // the reply in progress (an entry, see newEntry)
  pending: new Map(), // socket command id -> entry, until command_response / cancelled / error
  autoListenArmed: false,
  errorUntil: 0,
  seq: 0,
  budgetNoticed: false,
};

const ui = new UI();
const settings = new Settings();
const speaker = new Speaker(() => ({
  voice: settings.values.voice,
  wpm: settings.values.voice_speed,
  lang: settings.values.language,
}));
const listener = new Listener();
const chat = new ChatView(byTestId('chat-log'), document.getElementById('empty'));
const input = byTestId('text-input');
const form = document.getElementById('composer');
const reviewBox = byTestId('review-toggle');
const dialog = byTestId('settings-panel');

// ---------- per-tab client id ----------

/**
 * One id per tab, kept in sessionStorage. A duplicated tab inherits its opener's
 * sessionStorage, so we ask other tabs over a BroadcastChannel whether the id is taken
 * and pick a new one if so (the server keeps one socket per client id).
 */
function setupClientId() {
  const KEY = 'ballsy.clientId';
  let id = null;
  try { id = sessionStorage.getItem(KEY); } catch { /* storage off */ }
  if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) id = randomId(16);
  const save = () => { try { sessionStorage.setItem(KEY, id); } catch { /* storage off */ } };
  save();
  let asking = true;
  let channel = null;
  try { channel = new BroadcastChannel('ballsy-tabs'); } catch { /* unsupported */ }
  const checked = new Promise((resolve) => {
    if (!channel) return resolve();
    channel.onmessage = ({ data }) => {
      if (data?.q === id) channel.postMessage({ taken: id });
      else if (asking && data?.taken === id) {
        id = randomId(16);
        save();
      }
    };
    channel.postMessage({ q: id });
    setTimeout(() => { asking = false; resolve(); }, 150);
  });
  return { get id() { return id; }, checked };
}
const clientId = setupClientId();

const live = new LiveVoice({
  url: () => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/live/${clientId.id}?timezone=${encodeURIComponent(TIMEZONE)}`,
});

const liveMode = new LiveView({
  live, chat, ui,
  toggle: byTestId('live-switch'),
  orb: byTestId('orb'),
  onAction: (bubble, action, data) => handleAction(bubble, action, data, { live: true }),
  beforeStart: () => { bargeIn(); endListening(); },
  onChange: () => refresh(),
});

const socket = new VoiceSocket({
  url: () => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/voice/${clientId.id}`,
  canIdle: () => app.pending.size === 0 && !app.active,
});

// ---------- test handle ----------

const stateView = Object.freeze({
  get deltaCount() { return app.deltaCount; },
  get orbState() { return ui.orbState; },
  get connection() { return socket.state; },
  get listening() { return app.listening; },
  get speaking() { return speaker.active; },
  get pending() { return app.pending.size; },
  get mode() { return app.mode; },
  get clientId() { return clientId.id; },
  get settings() { return { ...settings.values }; },
  get spoken() { return [...speaker.lastSpoken]; },
});
const liveView = Object.freeze({
  get state() { return live.state; },
  get ready() { return live.ready; },
  get muted() { return live.muted; },
  get playing() { return live.playing; },
  get stats() { return { ...live.stats }; },
  get player() { return live.player ? { ...live.player.stats } : null; },
  get level() { return { input: live.inputLevel, output: live.outputLevel }; },
});
Object.defineProperty(window, '__ballsy', {
  value: Object.freeze({ state: stateView, socket, live: liveView, get sentFrames() { return socket.sentFrames; } }),
  writable: false, configurable: false, enumerable: false,
});

// ---------- orb / status ----------

function refresh() {
  const state = live.active && Date.now() >= app.errorUntil ? liveMode.orbState()
    : app.listening ? 'listening'
    : Date.now() < app.errorUntil ? 'error'
    : speaker.active ? 'speaking'
    : app.active ? 'thinking'
    : 'idle';
  if (ui.orbState !== state) ui.setOrb(state);
}

function flashError(ms = 1800) {
  app.errorUntil = Date.now() + ms;
  refresh();
  setTimeout(refresh, ms + 20);
}

// ---------- session ----------

/** Resolves after ms, or sooner when the browser comes back online / the tab becomes visible. */
function nap(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      window.removeEventListener('online', done);
      document.removeEventListener('visibilitychange', vis);
      resolve();
    };
    const vis = () => { if (document.visibilityState === 'visible') done(); };
    const t = setTimeout(done, ms);
    window.addEventListener('online', done);
    document.addEventListener('visibilitychange', vis);
  });
}

async function loadSession() {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api('/api/session');
    } catch (e) {
      ui.setConnection('disconnected');
      ui.status(`${describeError(e)} Retrying…`, { tone: 'error', ms: 15_000 });
      await nap(1000 + backoffDelay(attempt, 1000, 30_000));
    }
  }
}

function offlineHint() {
  const KEY = 'ballsy.offlineHint';
  try {
    if (sessionStorage.getItem(KEY)) return;
    sessionStorage.setItem(KEY, '1');
  } catch { /* show it anyway */ }
  ui.toast('Offline mode: built-in commands (time, maths, opening sites) work. Set GEMINI_API_KEY on the server to enable open questions.', { tone: 'warn', ms: 14_000, key: 'offline-hint' });
}

function applySession(s) {
  app.mode = s?.assistant?.mode === 'offline' ? 'offline' : (s?.assistant?.mode || 'unknown');
  app.limits = { ...app.limits, ...(s?.limits || {}) };
  input.maxLength = app.limits.max_command_chars;
  ui.setOffline(app.mode === 'offline');
  if (app.mode === 'offline') offlineHint();
  ui.setConnection(socket.state === 'idle' ? 'connecting' : socket.state);
  ui.clearStatus();
  liveMode.offer(!!s?.features?.live && liveSupported());
}

// The first call creates the anonymous identity cookie; everything else waits for it.
const ready = (async () => {
  ui.setConnection('connecting');
  const s = await loadSession();
  applySession(s);
  return s;
})();

/** Wait for the session, but not forever: false when it isn't there after ms. */
async function sessionReady(ms = 8000) {
  let ok = false;
  await Promise.race([ready.then(() => { ok = true; }), sleep(ms)]);
  return ok;
}

// ---------- conversation ----------

function newEntry(text, bubble, fromVoice) {
  const entry = {
    id: `c${Date.now().toString(36)}-${++app.seq}`,
    text, bubble, fromVoice,
    via: null, streamed: '', deltas: 0,
    done: false, cancelling: false, retried: false, busyRetried: false, timer: 0,
  };
  app.active = entry;
  app.deltaCount = 0;
  app.errorUntil = 0;
  speaker.begin();
  refresh();
  return entry;
}

function finishEntry(e) {
  e.done = true;
  clearTimeout(e.timer);
  app.pending.delete(e.id);
  if (app.active === e) app.active = null;
}

function armTimeout(e) {
  clearTimeout(e.timer);
  e.timer = setTimeout(() => {
    if (e.done) return;
    if (e.via === 'ws' && socket.isOpen) socket.send({ type: 'cancel' });
    fail(e, { code: 'no_reply' });
  }, REPLY_TIMEOUT_MS);
}

/** Send a typed (or transcribed) command. Returns false when nothing was sent. */
async function sendCommand(raw, { fromVoice = false } = {}) {
  const text = String(raw ?? '').trim();
  if (!text) return false;
  const max = app.limits.max_command_chars;
  if (text.length > max) {
    ui.toast(describeError({ code: 'command_too_long' }, { maxChars: max }), { tone: 'error' });
    return false;
  }
  speaker.prime();
  bargeIn();
  chat.add('user', text);
  const entry = newEntry(text, chat.add('assistant', '', 'streaming'), fromVoice);
  await deliver(entry);
  return true;
}

async function deliver(entry) {
  if (!(await sessionReady())) return fail(entry, { code: 'network' });
  if (entry.done || entry.cancelling) return;
  const open = await socket.ensureOpen(2500);
  if (entry.done || entry.cancelling) return;
  if (open && sendFrame(entry)) return;
  await sendHttp(entry);
}

function sendFrame(entry) {
  if (!socket.send({ command: entry.text, timezone: TIMEZONE, id: entry.id })) return false;
  entry.via = 'ws';
  app.pending.set(entry.id, entry);
  socket.touch();
  armTimeout(entry);
  return true;
}

async function sendHttp(entry) {
  entry.via = 'http';
  try {
    const r = await api('/api/command', { method: 'POST', json: { command: entry.text, timezone: TIMEZONE } });
    complete(entry, r || {});
  } catch (e) {
    fail(entry, e);
  }
}

/** A final reply (socket command_response data, or the HTTP body). */
function complete(entry, data) {
  if (!entry || entry.done) return;
  finishEntry(entry);
  const text = String(data.response ?? '');
  const stick = chat.nearBottom();
  entry.bubble.setText(text);
  entry.bubble.setSource(data.source);
  entry.bubble.setStatus('complete');
  if (entry.cancelling) {
    // The user interrupted, but the server finished first: show it, don't act on it.
    chat.changed(stick);
    refresh();
    return;
  }
  handleAction(entry.bubble, data.action, data.data, { live: true });
  chat.changed(stick);
  noticeForSource(data.source);
  if (data.action === 'exit') {
    endListening();
    app.autoListenArmed = false;
  } else {
    app.autoListenArmed = !!settings.values.auto_listen;
  }
  speaker.finish(text); // emits 'idle' right away when there is nothing to say
  refresh();
}

function fail(entry, err) {
  if (!entry || entry.done) return;
  finishEntry(entry);
  if (entry.cancelling) return refresh(); // stays "interrupted"
  const msg = describeError(err, { maxChars: app.limits.max_command_chars });
  const b = entry.bubble;
  if (b.text) b.setStatus('failed', msg);
  else {
    b.setText(msg);
    b.setStatus('failed');
  }
  if (entry.text) {
    b.onRetry(() => {
      b.setText('');
      b.setStatus('streaming');
      bargeIn();
      deliver(newEntry(entry.text, b, false));
    });
  }
  const code = err?.code;
  if (code === 'rate_limited') {
    ui.toast(msg, { tone: 'warn', key: 'rate' });
    if (entry.fromVoice) speaker.say(`Slow down a little. Try again in ${retrySeconds(err.retryAfterMs ?? err.retry_after_ms)} seconds.`);
  } else if (code === 'network') {
    ui.toast(msg, { tone: 'error', key: 'net' });
  } else if (code === 'voice_unavailable') {
    ui.setOffline(true);
    ui.toast(msg, { tone: 'warn', key: 'voice' });
  } else if (code === 'payload_too_large') {
    ui.toast(msg, { tone: 'warn', key: 'voice' });
  }
  flashError();
  ui.status(msg, { tone: 'error' });
}

function handleAction(bubble, action, data, { live }) {
  switch (action) {
    case 'open_url': {
      const url = safeHttpUrl(data?.url);
      if (!url) break;
      const host = new URL(url).hostname.replace(/^www\./, '');
      const desc = String(data?.description || '').trim();
      chat.actionCard(bubble, { action, url, title: desc || `Open ${host}`, subtitle: host });
      if (live) tryOpen(url);
      break;
    }
    case 'search': {
      const q = String(data?.query ?? '').trim();
      if (!q) break;
      const url = searchUrl(q);
      chat.actionCard(bubble, { action, url, title: `Search Google for “${q}”`, subtitle: 'google.com' });
      if (live) tryOpen(url);
      break;
    }
    case 'open_app': {
      const name = String(data?.app_name || '').trim() || 'that app';
      chat.note(bubble, `A web page can't open apps on your device, like ${name}. Open it yourself, or ask me to open its website.`);
      break;
    }
    default:
      break;
  }
}

// Popups need a fresh user gesture that a slow reply may have outlived, and with 'noopener'
// window.open returns null even on success: so the action card (a real link) is always shown.
function tryOpen(url) {
  if (document.visibilityState !== 'visible') return;
  try { window.open(url, '_blank', 'noopener'); } catch { /* blocked: the card is there */ }
}

function noticeForSource(source) {
  if (source === 'budget' && !app.budgetNoticed) {
    app.budgetNoticed = true;
    ui.toast("Today's AI budget is used up. Built-in commands still work; open questions are back tomorrow.", { tone: 'warn', ms: 12_000, key: 'budget' });
  } else if (source === 'offline') {
    ui.setOffline(true);
    offlineHint();
  }
}

/** Stop talking / streaming now. Returns true if anything was interrupted. */
function bargeIn() {
  const e = app.active;
  const wasSpeaking = speaker.active;
  app.autoListenArmed = false;
  speaker.stop();
  let cancelSent = false;
  if (e && !e.done) {
    e.cancelling = true;
    app.active = null;
    e.bubble.setStatus('interrupted');
    if (e.via === 'ws' && socket.isOpen) cancelSent = socket.send({ type: 'cancel' });
    // Wait a little for 'cancelled' / 'command_response', then forget it.
    clearTimeout(e.timer);
    e.timer = setTimeout(() => finishEntry(e), 10_000);
  }
  if (wasSpeaking && !cancelSent && socket.isOpen) socket.send({ type: 'cancel' });
  refresh();
  return !!e || wasSpeaking;
}

// ---------- socket frames ----------

function oldestPending(pred) {
  for (const e of app.pending.values()) if (!e.done && pred(e)) return e;
  return null;
}

function onFrame(msg) {
  const id = msg.id == null ? null : String(msg.id);
  switch (msg.type) {
    case 'response_delta': {
      const e = id && app.pending.get(id);
      if (!e || e.done || e.cancelling) return;
      const delta = String(msg.delta ?? '');
      e.deltas++;
      if (e === app.active) app.deltaCount++;
      e.streamed += delta;
      const stick = chat.nearBottom();
      e.bubble.setText(e.streamed);
      chat.changed(stick);
      armTimeout(e);
      speaker.feed(e.streamed);
      refresh();
      return;
    }
    case 'command_response': {
      const e = id ? app.pending.get(id) : oldestPending(() => true);
      if (e) complete(e, msg.data || {});
      return;
    }
    case 'cancelled': {
      const e = id ? app.pending.get(id) : oldestPending((x) => x.cancelling);
      if (!e) return;
      finishEntry(e);
      e.bubble.setStatus('interrupted');
      refresh();
      return;
    }
    case 'error':
      onSocketError(msg, id);
      return;
    default:
      return; // status_update, pong, anything new
  }
}

function onSocketError(msg, id) {
  const err = { code: msg.code, message: msg.message, retry_after_ms: msg.retry_after_ms };
  let e = id ? app.pending.get(id) : null;
  if (!e && !id && COMMAND_ERRORS.has(msg.code)) e = oldestPending((x) => !x.cancelling);
  if (e && e.cancelling) {
    finishEntry(e);
    return;
  }
  if (e && msg.code === 'busy' && !e.busyRetried) {
    // Most likely the previous reply is still being cancelled: try once more shortly.
    e.busyRetried = true;
    setTimeout(() => {
      if (e.done || e.cancelling) return;
      app.pending.delete(e.id);
      if (!sendFrame(e)) sendHttp(e);
    }, 600);
    return;
  }
  if (e) return fail(e, err);
  if (msg.code === 'rate_limited') ui.toast(describeError(err), { tone: 'warn', key: 'rate' });
  else console.warn('Ballsy socket error', msg.code, msg.message);
}

function onSocketClose({ code }) {
  if (code === 1009) ui.toast('That message was too big to send.', { tone: 'error' });
  for (const e of [...app.pending.values()]) {
    if (e.done) continue;
    if (e.cancelling) {
      finishEntry(e);
      continue;
    }
    app.pending.delete(e.id);
    clearTimeout(e.timer);
    if (e.deltas > 0 || e.retried) {
      // Part of the answer arrived: resending could duplicate it. Let the person decide.
      fail(e, { code: 'connection_lost' });
    } else {
      e.retried = true;
      sendHttp(e);
    }
  }
  refresh();
}

socket.addEventListener('message', (ev) => onFrame(ev.detail.msg));
socket.addEventListener('close', (ev) => onSocketClose(ev.detail));
socket.addEventListener('state', (ev) => ui.setConnection(ev.detail.state));

// ---------- listening ----------

const MIC_MESSAGES = {
  'not-allowed': 'Microphone access is blocked. Allow the microphone for this site in your browser, then try again.',
  'service-not-allowed': 'Speech recognition is blocked in this browser. Allow it, or type instead.',
  'no-speech': "I didn't hear anything. Tap the orb and try again.",
  'audio-capture': 'No microphone found. Check that one is connected and not used by another app.',
  network: 'Speech recognition needs a network connection. Check your connection, or type instead.',
  'language-not-supported': 'Speech recognition does not support the selected language. Pick another one in Settings.',
  unsupported: "Voice input isn't available in this browser. Type your command instead.",
  insecure: 'The microphone only works on a secure (https) page. Type your command instead.',
  voice_unavailable: 'Voice upload needs the AI, and the server is in offline mode. Type your command instead.',
};

function micError(code) {
  if (code === 'aborted') return;
  const msg = MIC_MESSAGES[code] || "I couldn't start listening. Please try again.";
  ui.status(msg, { tone: 'error', ms: 9000 });
  flashError();
  if (code === 'not-allowed' || code === 'service-not-allowed') {
    ui.toast(msg, { tone: 'error', key: 'mic', ms: 12_000 });
    speaker.say(msg);
  } else if (code !== 'no-speech') {
    ui.toast(msg, { tone: code === 'unsupported' || code === 'voice_unavailable' ? 'warn' : 'error', key: 'mic' });
  }
}

function startListening() {
  const kind = listener.kind;
  if (!kind) return micError(window.isSecureContext === false ? 'insecure' : 'unsupported');
  if (kind === 'record' && app.mode === 'offline') return micError('voice_unavailable');
  if (listener.active) return;
  app.listening = true;
  ui.listenText = kind === 'record' ? 'Recording… tap again to send' : 'Listening… tap to stop';
  ui.setInterim('');
  refresh();
  listener.start({
    lang: settings.values.language || navigator.language || 'en-US',
    maxBytes: app.limits.max_upload_bytes,
  });
}

function endListening() {
  app.autoListenArmed = false;
  if (listener.active) listener.abort();
}

/** Orb, mic button and Space: toggle listening; interrupts Ballsy first. */
function onTalk() {
  if (live.active) return liveMode.talk();
  speaker.prime();
  if (app.listening || listener.active) {
    listener.stop();
    return;
  }
  bargeIn();
  startListening();
}

function maybeAutoListen() {
  if (!app.autoListenArmed || speaker.active || app.active || app.listening) return;
  app.autoListenArmed = false;
  if (!settings.values.auto_listen || listener.kind !== 'speech' || document.visibilityState !== 'visible') return;
  setTimeout(() => {
    if (!speaker.active && !app.active && !app.listening && !dialog.open) startListening();
  }, 300);
}

function onTranscript(text) {
  if (reviewBox.checked) {
    input.value = text;
    input.focus();
    try { input.setSelectionRange(text.length, text.length); } catch { /* ignore */ }
    ui.status('Check the text, then press Enter to send.', { ms: 9000 });
    return;
  }
  sendCommand(text, { fromVoice: true });
}

async function uploadVoice(blob) {
  if (blob.size > app.limits.max_upload_bytes) {
    ui.toast(describeError({ code: 'payload_too_large' }), { tone: 'warn', key: 'voice' });
    return;
  }
  bargeIn();
  const user = chat.add('user', 'Transcribing…', 'streaming');
  const entry = newEntry('', chat.add('assistant', '', 'streaming'), true);
  entry.via = 'http';
  if (!(await sessionReady())) {
    user.setStatus('failed');
    return fail(entry, { code: 'network' });
  }
  const body = new FormData();
  body.append('file', blob, `voice.${extensionFor(blob.type)}`);
  try {
    const r = (await api('/api/voice', { method: 'POST', form: body, timeout: 60_000 })) || {};
    const transcript = String(r.transcript ?? '').trim();
    user.setText(transcript || '(nothing recognised)');
    user.setStatus('complete');
    entry.text = transcript;
    complete(entry, r);
  } catch (e) {
    user.setText('Voice message');
    user.setStatus('failed');
    fail(entry, e);
  }
}

listener.addEventListener('start', refresh);
listener.addEventListener('interim', (e) => ui.setInterim(e.detail.text));
listener.addEventListener('final', (e) => {
  app.listening = false;
  ui.setInterim('');
  refresh();
  onTranscript(e.detail.text);
});
listener.addEventListener('audio', (e) => {
  app.listening = false;
  refresh();
  uploadVoice(e.detail.blob);
});
listener.addEventListener('error', (e) => {
  app.listening = false;
  micError(e.detail.code);
});
listener.addEventListener('end', () => {
  app.listening = false;
  ui.setInterim('');
  refresh();
});

speaker.addEventListener('change', refresh);
speaker.addEventListener('idle', () => {
  refresh();
  maybeAutoListen();
});

// ---------- restore ----------

async function loadConversation() {
  try {
    const r = await api('/api/conversation');
    const msgs = Array.isArray(r?.messages) ? r.messages : [];
    const nodes = [];
    for (const m of msgs) {
      const role = m.role === 'user' ? 'user' : 'assistant';
      const status = ['complete', 'interrupted', 'failed'].includes(m.status) ? m.status : 'complete';
      const b = new Bubble(role, String(m.content ?? ''), status);
      if (role === 'assistant') {
        b.setSource(m.source);
        handleAction(b, m.action, m.data, { live: false });
      }
      nodes.push(b.el);
    }
    // Anything typed before the history arrived stays below it.
    chat.prepend(nodes);
  } catch (e) {
    ui.toast(`Couldn't load the conversation. ${describeError(e)}`, { tone: 'error', key: 'conv' });
  }
}

// ---------- controls ----------

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) {
    input.focus();
    return;
  }
  if (text.length > app.limits.max_command_chars) {
    ui.toast(describeError({ code: 'command_too_long' }, { maxChars: app.limits.max_command_chars }), { tone: 'error' });
    return;
  }
  input.value = '';
  sendCommand(text);
});

byTestId('orb').addEventListener('click', onTalk);
byTestId('mic-button').addEventListener('click', onTalk);

for (const chip of document.querySelectorAll('[data-command]')) {
  chip.addEventListener('click', () => sendCommand(chip.dataset.command));
}

try { reviewBox.checked = localStorage.getItem(REVIEW_KEY) === '1'; } catch { /* ignore */ }
reviewBox.addEventListener('change', () => {
  try { localStorage.setItem(REVIEW_KEY, reviewBox.checked ? '1' : '0'); } catch { /* ignore */ }
});

byTestId('new-conversation').addEventListener('click', async () => {
  bargeIn();
  endListening();
  if (!(await sessionReady())) return ui.toast(describeError({ code: 'network' }), { tone: 'error', key: 'net' });
  try {
    await api('/api/conversation', { method: 'DELETE' });
    for (const e of [...app.pending.values()]) finishEntry(e);
    if (app.active) finishEntry(app.active);
    chat.clear();
    ui.status('Started a new conversation.', { ms: 4000 });
  } catch (e) {
    ui.toast(`Couldn't start a new conversation. ${describeError(e)}`, { tone: 'error' });
  }
  refresh();
});

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || dialog.open) return;
  if ((e.code === 'Space' || e.key === ' ') && !isInteractiveTarget(e.target)) {
    e.preventDefault();
    if (!e.repeat) onTalk();
  } else if (e.key === 'Escape') {
    if (live.active) live.silence();
    else if (app.listening || listener.active) listener.abort();
    else bargeIn();
  }
});

// Prime speech synthesis inside the first gesture (iOS ignores speech started later otherwise).
const prime = () => speaker.prime();
document.addEventListener('pointerdown', prime, { once: true, capture: true });
document.addEventListener('keydown', prime, { once: true, capture: true });

window.addEventListener('offline', () => {
  ui.toast("You're offline. Ballsy will reconnect when the network is back.", { tone: 'warn', ms: 0, key: 'net' });
});
window.addEventListener('online', () => {
  ui.toast('Back online.', { ms: 2500, key: 'net' });
});

bindSettingsPanel({
  settings, speaker, dialog,
  openButton: byTestId('settings-button'),
});
settings.addEventListener('invalid', (e) => {
  if (!dialog.open) ui.toast(e.detail.message, { tone: 'error', key: 'settings' });
});

// Status-line hint for this device.
ui.defaultHint = !listener.kind
  ? "Type a command below. Voice input isn't available in this browser."
  : listener.kind === 'record'
    ? 'Tap the orb to record, tap again to send'
    : globalThis.matchMedia?.('(pointer: coarse)').matches
      ? 'Tap the orb to talk'
      : 'Tap the orb or press Space to talk';
ui.setOrb('idle');
if (navigator.onLine === false) ui.toast("You're offline. Ballsy will connect when the network is back.", { tone: 'warn', ms: 0, key: 'net' });

// ---------- boot ----------

(async () => {
  await Promise.all([ready, clientId.checked]);
  socket.connect();
  settings.load().catch((e) => ui.toast(`Couldn't load your settings. ${describeError(e)}`, { tone: 'error', key: 'settings' }));
  loadConversation();
})();
