/*
 * Ballsy page entry module: the only <script>; everything else is imported from ./js/.
 * Nothing is global except the read-only test handle window.__ballsy.
 *
 * TEST HOOKS (stable; browser tests rely on them)
 * data-testid:
 *   orb, mic-button, text-input, send-button, chat-log, status-line, interim (live transcript),
 *   message        each bubble: data-role="user|assistant", data-source (assistant),
 *                  data-status="streaming|complete|truncated|interrupted|cut_off|refused|failed"
 *                  (the server's status; failed and cut_off replies carry a Retry: retry)
 *   action-card    open_url/search card in an assistant bubble, data-action; holds
 *                  <a href target="_blank" rel="noopener noreferrer">. Only a built-in
 *                  command (source "rule") also opens a tab by itself; a model's or a failed
 *                  turn's search is only ever this card.
 *   action-note    open_app explanation in an assistant bubble
 *   connection-indicator  data-state="connected|connecting|disconnected|idle"
 *   offline-badge  "Commands only", [hidden] unless the server runs without Gemini
 *   mute-toggle    aria-pressed="true" while replies are muted (localStorage, this browser)
 *   settings-button, settings-panel (<dialog>), setting-voice, setting-speed, setting-theme,
 *   setting-auto-listen, setting-language, setting-speak-replies (voice|always|never),
 *   export-json, export-md, forget-me, forget-confirm, forget-confirm-button,
 *   new-conversation (with an Undo toast), history-* (see js/history.js),
 *   review-toggle  "Review before sending" checkbox (localStorage)
 *   live-switch    the Live switch (a role=switch checkbox; its <label> is [hidden] unless
 *                  GET /api/session says features.live and the browser can run Live)
 *   notice         each toast, data-tone="info|warn|error"; notice-action its button (Undo)
 *   voice-notice, voice-notice-ok, recorder, record-meter, record-timer: the recorder path
 *                  (no SpeechRecognition), see js/recorder.js
 *   timer-list, timer-item (data-timer-id, data-kind), timer-countdown, timer-remove
 *   timer-alerts, timer-ringing | timer-missed (cards, data-timer-id), timer-dismiss, timer-snooze
 *   weather-card (data-units), weather-now, weather-range, weather-hour, home-city-offer,
 *   setting-home-city, setting-units
 *   grounding-sources (links under a grounded answer), search-suggestions (the chip <iframe>)
 * <html data-theme="light|dark" data-theme-pref="light|dark|system">
 * <body data-orb-state="idle|listening|thinking|speaking|error" data-voice="off" (when voice
 *   input cannot work here: recorder path on a server without Gemini; the orb offers typing)>
 * <body data-live="off|starting|connecting|ready|reconnecting|paused"> once Live was used;
 *   the orb's --orb-level (0..1) follows the voice while Live is on
 * window.__ballsy (frozen):
 *   state.deltaCount  response_delta frames received for the latest reply (reset per command)
 *   state.orbState, .connection, .listening, .speaking, .pending, .mode, .clientId, .muted,
 *   state.turnState  the latest turn's state (js/conversation.js: sending|streaming|done|
 *                    failed|cancelling|cancelled), null before the first
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
 * Replies are spoken per the speak_replies setting (default: only turns that began by voice),
 * never while muted.
 * Other tabs of the same user: a turn_synced frame appends that turn here, and
 * conversation_changed reloads the open conversation, so every tab shows (and the calculator's
 * "times 2" continues) the same conversation.
 * Auto-listen restarts Web Speech recognition after a reply is spoken; it never starts a
 * MediaRecorder recording: each one is sent to Google, so it starts only on a tap.
 */

import { api, describeError, retrySeconds } from './js/api.js';
import { ChatView, Bubble, safeHttpUrl, searchUrl } from './js/chat.js';
import { Conversation } from './js/conversation.js';
import { HistoryView } from './js/history.js';
import { bindPrivacy } from './js/privacy.js';
import { byTestId, backoffDelay, isInteractiveTarget, randomId, sleep } from './js/dom.js';
import { Listener, extensionFor } from './js/listen.js';
import { RecorderView } from './js/recorder.js';
import { LiveVoice, liveSupported } from './js/live.js';
import { LiveView } from './js/live-view.js';
import { Settings, bindSettingsPanel } from './js/settings.js';
import { VoiceSocket } from './js/socket.js';
import { Speaker } from './js/speech.js';
import { showGrounding } from './js/sources.js';
import { TimerBoard } from './js/timers.js';
import { UI } from './js/ui.js';
import { WeatherView } from './js/weather.js';

const TIMEZONE = (() => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
})();
const REPLY_TIMEOUT_MS = 60_000;
// How long an interrupted turn waits for the server's answer to the cancel.
const CANCEL_GRACE_MS = 10_000;
const REVIEW_KEY = 'ballsy.review';
const MUTE_KEY = 'ballsy.muted';
// Errors the server may send without an id that still belong to the command in flight.
// How a reply ended, as the server says (conversation::Status); shown as the bubble's status.
const REPLY_STATUSES = new Set(['complete', 'truncated', 'interrupted', 'cut_off', 'refused', 'failed']);
const COMMAND_ERRORS = new Set(['rate_limited', 'invalid_command', 'command_too_long', 'busy', 'storage_unavailable', 'internal']);

// ---------- state ----------

const app = {
  mode: 'unknown',
  limits: { max_command_chars: 1000, max_upload_bytes: 2_097_152, ws_idle_timeout_secs: 300 },
  deltaCount: 0,
  listening: false,
  autoListenArmed: false,
  errorUntil: 0,
  budgetNoticed: false,
  voiceOff: false, // set from the session: see applySession
  conversationId: null,
  muted: false,
};

const ui = new UI();
// The turns in progress and awaited, each in one state (js/conversation.js).
const turns = new Conversation();
const settings = new Settings();
const speaker = new Speaker(() => ({
  voice: settings.values.voice,
  wpm: settings.values.voice_speed,
  lang: settings.values.language,
}));
const listener = new Listener();
const recorderView = new RecorderView(listener, { orb: byTestId('orb'), after: document.querySelector('.orb-row') });
const chat = new ChatView(byTestId('chat-log'), document.getElementById('empty'));
const input = byTestId('text-input');
const form = document.getElementById('composer');
const reviewBox = byTestId('review-toggle');
const dialog = byTestId('settings-panel');
const timers = new TimerBoard({
  listEl: byTestId('timer-list'),
  alertsEl: byTestId('timer-alerts'),
  speaker,
  onSnooze: (command) => sendCommand(command),
  onError: (msg) => ui.toast(msg, { tone: 'error', key: 'timers' }),
});

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
  canIdle: () => turns.idle,
});

// ---------- test handle ----------

const stateView = Object.freeze({
  get deltaCount() { return app.deltaCount; },
  get orbState() { return ui.orbState; },
  get connection() { return socket.state; },
  get listening() { return app.listening; },
  get speaking() { return speaker.active; },
  get pending() { return turns.inFlight.size; },
  get turnState() { return turns.latest?.state ?? null; },
  get mode() { return app.mode; },
  get clientId() { return clientId.id; },
  get settings() { return { ...settings.values }; },
  get spoken() { return [...speaker.lastSpoken]; },
  get muted() { return app.muted; },
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
    : turns.active ? 'thinking'
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

function applySession(s) {
  app.mode = s?.assistant?.mode === 'offline' ? 'offline' : (s?.assistant?.mode || 'unknown');
  app.limits = { ...app.limits, ...(s?.limits || {}) };
  input.maxLength = app.limits.max_command_chars;
  // The "Commands only" badge explains itself (its title); how to enable the AI is for the
  // operator (server logs, GET /api/session), never shown to users.
  ui.setOffline(app.mode === 'offline');
  // Without speech recognition, voice is a recording that only Gemini can transcribe: on a
  // server without it, say so at the orb before anyone taps, instead of failing after.
  const upload = s?.features?.voice_upload ?? app.mode !== 'offline';
  const recorder = listener.kind === 'record';
  app.voiceOff = recorder && !upload;
  ui.setVoiceOff(app.voiceOff ? VOICE_OFF : null);
  recorderView.setNoticeWanted(recorder && upload);
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

function beginTurn(text, bubble, fromVoice, location = null) {
  const entry = turns.begin({ text, bubble, fromVoice, location });
  app.deltaCount = 0;
  app.errorUntil = 0;
  speaker.begin();
  refresh();
  return entry;
}

/** Whether this reply is read aloud: the speak_replies setting, then the mute toggle. */
function speaks(entry) {
  if (app.muted) return false;
  const mode = settings.values.speak_replies;
  return mode === 'always' || (mode !== 'never' && !!entry?.fromVoice);
}

function setMuted(on) {
  app.muted = on;
  const b = byTestId('mute-toggle');
  b.setAttribute('aria-pressed', String(on));
  const label = on ? 'Unmute replies' : 'Mute replies';
  b.setAttribute('aria-label', label);
  b.title = label;
  try { localStorage.setItem(MUTE_KEY, on ? '1' : '0'); } catch { /* storage off */ }
  if (on) speaker.stop();
  refresh();
}

function armTimeout(e) {
  e.deadline(REPLY_TIMEOUT_MS, () => {
    if (e.via === 'ws' && socket.isOpen) socket.send({ type: 'cancel' });
    fail(e, { code: 'no_reply' });
  });
}

/** Send a typed (or transcribed) command. Returns false when nothing was sent. */
async function sendCommand(raw, { fromVoice = false, location = null } = {}) {
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
  const entry = beginTurn(text, chat.add('assistant', '', 'streaming'), fromVoice, location);
  await deliver(entry);
  return true;
}

async function deliver(entry) {
  if (!(await sessionReady())) return fail(entry, { code: 'network' });
  if (!entry.open) return;
  const open = await socket.ensureOpen(2500);
  if (!entry.open) return;
  if (open && sendFrame(entry)) return;
  await sendHttp(entry);
}

function sendFrame(entry) {
  const frame = { command: entry.text, timezone: TIMEZONE, id: entry.id };
  if (entry.location) frame.location = entry.location;
  if (!socket.send(frame)) return false;
  turns.sent(entry, 'ws');
  socket.touch();
  armTimeout(entry);
  return true;
}

async function sendHttp(entry) {
  turns.sent(entry, 'http');
  try {
    const json = { command: entry.text, timezone: TIMEZONE };
    if (entry.location) json.location = entry.location;
    const r = await api('/api/command', { method: 'POST', json });
    complete(entry, r || {});
  } catch (e) {
    fail(entry, e);
  }
}

/** A final reply (socket command_response data, or the HTTP body). */
function complete(entry, data) {
  const was = turns.settle(entry, 'done');
  if (!was) return;
  const text = String(data.response ?? '');
  const stick = chat.nearBottom();
  const status = REPLY_STATUSES.has(data.status) ? data.status : 'complete';
  entry.bubble.setText(text);
  entry.bubble.setSource(data.source);
  entry.bubble.setStatus(status);
  if (was === 'cancelling') {
    // The user interrupted, but the server finished first: show it, don't act on it.
    chat.changed(stick);
    refresh();
    return;
  }
  // Only a command the user gave opens a tab; a model's or a failed turn's search stays a card.
  const quiet = handleAction(entry.bubble, data.action, data.data, {
    live: data.source === 'rule' && status === 'complete', now: true, entry, turnId: data.turn_id,
  }) === QUIET;
  if (status === 'failed' || status === 'cut_off') {
    offerRetry(entry);
    chat.reveal(entry.bubble);
  } else chat.changed(stick);
  noticeForSource(data.source);
  if (data.action === 'exit' || quiet) {
    endListening();
    app.autoListenArmed = false;
  } else {
    app.autoListenArmed = !!settings.values.auto_listen;
  }
  // need_location takes over what is said; finishing with nothing ends any streamed speech.
  if (quiet) speaker.finish('');
  else if (speaks(entry)) speaker.finish(text); // emits 'idle' right away when there is nothing to say
  else maybeAutoListen();
  refresh();
}

function offerRetry(entry) {
  if (!entry.text) return;
  const b = entry.bubble;
  b.onRetry(() => {
    b.restart();
    bargeIn();
    deliver(beginTurn(entry.text, b, entry.fromVoice, entry.location));
  });
}

function fail(entry, err) {
  const was = turns.settle(entry, 'failed');
  if (!was) return;
  if (was === 'cancelling') return refresh(); // stays "interrupted"
  const msg = describeError(err, { maxChars: app.limits.max_command_chars });
  const b = entry.bubble;
  if (b.text) b.setStatus('failed', msg);
  else {
    b.setText(msg);
    b.setStatus('failed');
  }
  offerRetry(entry);
  // The error is said once, in the bubble, next to its Retry, and scrolled into view: no toast
  // or status line repeats it.
  chat.reveal(b);
  const code = err?.code;
  if (code === 'rate_limited' && speaks(entry)) {
    speaker.say(`Slow down a little. Try again in ${retrySeconds(err.retryAfterMs ?? err.retry_after_ms)} seconds.`);
  } else if (code === 'voice_unavailable') {
    ui.setOffline(true);
  }
  flashError();
}

// handleAction's answer when it takes over speaking the reply (need_location).
const QUIET = Symbol('quiet');

// `live`: the reply may act by itself (open a tab): only a built-in command just given.
// `now`: it answers something this page asked just now (not a restored or synced reply), so
// a timer joins the list and a weather question may ask for the position.
function handleAction(bubble, action, data, { live, now = live, entry = null, turnId = null }) {
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
    case 'timer':
      timers.added(data, { live: now });
      break;
    case 'timer_cancelled':
      if (now) timers.cancelled(data?.ids);
      break;
    case 'weather':
      weather.showCard(bubble, data);
      break;
    case 'need_location':
      // Only a question asked just now may ask for the position, and only once per question.
      if (now && entry && !entry.location) {
        weather.locateAndAsk(bubble, entry.text, { fromVoice: entry.fromVoice });
        return QUIET;
      }
      if (now) weather.offerHomeCity(bubble);
      break;
    case 'grounded':
      showGrounding(bubble, data, turnId);
      break;
    default:
      break;
  }
  return null;
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
  }
}

/** Stop talking / streaming now. Returns true if anything was interrupted. */
function bargeIn() {
  const wasSpeaking = speaker.active;
  app.autoListenArmed = false;
  speaker.stop();
  let cancelSent = false;
  // It waits a little for 'cancelled' / 'command_response', then is given up on.
  const e = turns.interrupt(CANCEL_GRACE_MS);
  if (e) {
    e.bubble.setStatus('interrupted');
    if (e.via === 'ws' && socket.isOpen) cancelSent = socket.send({ type: 'cancel' });
  }
  if (wasSpeaking && !cancelSent && socket.isOpen) socket.send({ type: 'cancel' });
  refresh();
  return !!e || wasSpeaking;
}

// ---------- socket frames ----------

function onFrame(msg) {
  const id = msg.id == null ? null : String(msg.id);
  switch (msg.type) {
    case 'response_delta': {
      const e = turns.get(id);
      if (!e || !e.addDelta(String(msg.delta ?? ''))) return;
      if (e === turns.active) app.deltaCount++;
      const stick = chat.nearBottom();
      e.bubble.setText(e.streamed);
      chat.changed(stick);
      armTimeout(e);
      if (speaks(e)) speaker.feed(e.streamed);
      refresh();
      return;
    }
    case 'command_response': {
      const e = id ? turns.get(id) : turns.oldest();
      if (e) complete(e, msg.data || {});
      return;
    }
    case 'cancelled': {
      const e = id ? turns.get(id) : turns.oldest((x) => x.state === 'cancelling');
      if (!e) return;
      turns.settle(e, 'cancelled');
      e.bubble.setStatus('interrupted');
      refresh();
      return;
    }
    case 'error':
      onSocketError(msg, id);
      return;
    case 'turn_synced':
      onTurnSynced(msg.messages);
      return;
    case 'conversation_changed':
      if (msg.conversation_id !== app.conversationId) loadConversation({ replace: true });
      return;
    case 'timer_due':
      timers.due(msg);
      return;
    case 'timer_missed':
      timers.missed(msg);
      return;
    default:
      return; // status_update, pong, anything new
  }
}

/** Another tab of this user finished a turn: show it here too, in order. */
function onTurnSynced(messages) {
  if (!Array.isArray(messages)) return;
  const stick = chat.nearBottom();
  const nodes = renderMessages(messages);
  // A reply streaming here started after that turn; keep it last.
  const active = turns.active?.bubble.el;
  const anchor = active?.isConnected ? active.previousElementSibling : null;
  chat.insert(nodes, anchor?.dataset.role === 'user' ? anchor : null);
  chat.changed(stick);
}

function onSocketError(msg, id) {
  const err = { code: msg.code, message: msg.message, retry_after_ms: msg.retry_after_ms };
  let e = turns.get(id);
  if (!e && !id && COMMAND_ERRORS.has(msg.code)) e = turns.oldest((x) => x.state !== 'cancelling');
  if (e && e.state === 'cancelling') {
    turns.settle(e, 'cancelled');
    return;
  }
  if (e && msg.code === 'busy' && e.mayResend('busy')) {
    // Most likely the previous reply is still being cancelled: try once more shortly.
    setTimeout(() => {
      if (!e.open) return;
      turns.unsent(e);
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
  for (const e of [...turns.inFlight.values()]) {
    if (e.state === 'cancelling') {
      turns.settle(e, 'cancelled');
      continue;
    }
    turns.unsent(e);
    e.clearDeadline();
    // Once part of the answer arrived, resending could duplicate it: the person decides.
    if (e.mayResend('connection_lost')) sendHttp(e);
    else fail(e, { code: 'connection_lost' });
  }
  refresh();
}

socket.addEventListener('message', (ev) => onFrame(ev.detail.msg));
socket.addEventListener('close', (ev) => onSocketClose(ev.detail));
socket.addEventListener('state', (ev) => ui.setConnection(ev.detail.state));
// Timers set or rung while this socket was down (another tab, another device) show on
// reconnect; ones set or cancelled in another tab show when that tab's turn is synced here.
socket.addEventListener('open', () => { if (app.mode !== 'unknown') timers.load(); });
socket.addEventListener('message', (ev) => {
  const { msg } = ev.detail;
  if (msg.type === 'turn_synced' && Array.isArray(msg.messages)
    && msg.messages.some((m) => m.action === 'timer' || m.action === 'timer_cancelled')) timers.load();
});

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

const VOICE_OFF = {
  label: 'Voice needs the online assistant. Type instead',
  hint: "Voice needs the online assistant, which this server doesn't have. Type your command below.",
};

function micError(code) {
  if (code === 'aborted') return;
  const msg = MIC_MESSAGES[code] || "I couldn't start listening. Please try again.";
  ui.status(msg, { tone: 'error', ms: 9000 });
  flashError();
  if (code === 'not-allowed' || code === 'service-not-allowed') {
    ui.toast(msg, { tone: 'error', key: 'mic', ms: 12_000 });
    if (!app.muted && settings.values.speak_replies !== 'never') speaker.say(msg);
  } else if (code !== 'no-speech') {
    ui.toast(msg, { tone: code === 'unsupported' || code === 'voice_unavailable' ? 'warn' : 'error', key: 'mic' });
  }
}

function startListening() {
  const kind = listener.kind;
  if (!kind) return micError(window.isSecureContext === false ? 'insecure' : 'unsupported');
  if (app.voiceOff) {
    // The status line already says why; take the person to where they can type.
    input.focus();
    return;
  }
  if (listener.active) return;
  app.listening = true;
  ui.listenText = kind === 'record' ? 'Recording… it sends when you pause, or tap to send' : 'Listening… tap to stop';
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
  if (!app.autoListenArmed || speaker.active || turns.active || app.listening) return;
  app.autoListenArmed = false;
  if (!settings.values.auto_listen || listener.kind !== 'speech' || document.visibilityState !== 'visible') return;
  setTimeout(() => {
    if (!speaker.active && !turns.active && !app.listening && !dialog.open) startListening();
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
  const entry = beginTurn('', chat.add('assistant', '', 'streaming'), true);
  turns.sent(entry, 'http');
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

/** Bubbles (elements) for stored messages; a failed or cut-off reply can be retried. */
function renderMessages(msgs) {
  const nodes = [];
  let question = null;
  for (const m of msgs) {
    const role = m.role === 'user' ? 'user' : 'assistant';
    const status = REPLY_STATUSES.has(m.status) ? m.status : 'complete';
    const b = new Bubble(role, String(m.content ?? ''), status);
    if (role === 'user') question = b.text;
    else {
      b.setSource(m.source);
      handleAction(b, m.action, m.data, { live: false, turnId: m.turn_id });
      if (question) offerRetry({ text: question, bubble: b, fromVoice: false });
      question = null;
    }
    nodes.push(b.el);
  }
  return nodes;
}

/** Put a whole conversation ({conversation_id, messages}) on screen. */
function showConversation(r) {
  app.conversationId = r?.conversation_id ?? null;
  chat.replace(renderMessages(Array.isArray(r?.messages) ? r.messages : []));
}

/** Drop every reply in flight (the screen is about to show another conversation). */
function dropInFlight() {
  bargeIn();
  endListening();
  turns.dropAll();
  refresh();
}

async function loadConversation({ replace = false } = {}) {
  try {
    const r = await api('/api/conversation');
    if (replace) {
      dropInFlight();
      showConversation(r);
      return;
    }
    app.conversationId = r?.conversation_id ?? null;
    // Anything typed before the history arrived stays below it.
    chat.prepend(renderMessages(Array.isArray(r?.messages) ? r.messages : []));
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

const historyDialog = byTestId('history-panel');
new HistoryView({
  dialog: historyDialog,
  openButton: byTestId('history-button'),
  newButton: byTestId('new-conversation'),
  ui,
  show: showConversation,
  clear: (id) => {
    app.conversationId = id;
    chat.clear();
  },
  beforeChange: async () => {
    dropInFlight();
    await sessionReady();
  },
});

try { app.muted = localStorage.getItem(MUTE_KEY) === '1'; } catch { /* storage off */ }
setMuted(app.muted);
byTestId('mute-toggle').addEventListener('click', () => setMuted(!app.muted));

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || dialog.open || historyDialog.open) return;
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

bindSettingsPanel({
  settings, speaker, dialog,
  openButton: byTestId('settings-button'),
});
bindPrivacy(dialog, {
  beforeForget: () => {
    settings.discard();
    dropInFlight();
  },
});
const weather = new WeatherView({
  chat, speaker, settings, dialog,
  openButton: byTestId('settings-button'),
  ask: (text, opts) => sendCommand(text, opts),
});
settings.addEventListener('invalid', (e) => {
  if (!dialog.open) ui.toast(e.detail.message, { tone: 'error', key: 'settings' });
});

// Status-line hint for this device.
ui.defaultHint = !listener.kind
  ? "Type a command below. Voice input isn't available in this browser."
  : listener.kind === 'record'
    ? 'Tap the orb to record a message'
    : globalThis.matchMedia?.('(pointer: coarse)').matches
      ? 'Tap the orb to talk'
      : 'Tap the orb or press Space to talk';
ui.setOrb('idle');

// ---------- boot ----------

(async () => {
  await Promise.all([ready, clientId.checked]);
  socket.connect();
  settings.load().catch((e) => ui.toast(`Couldn't load your settings. ${describeError(e)}`, { tone: 'error', key: 'settings' }));
  loadConversation();
  timers.load();
})();
