// Timers, alarms and reminders on the page: the pending list with live countdowns, and the
// ringing / missed cards. The server owns the timers (GET /api/timers, DELETE /api/timers/{id},
// `timer` and `timer_cancelled` actions, `timer_due` and `timer_missed` socket frames); this
// module only shows them and rings.
//
// Decisions:
// - The chime is synthesised with Web Audio (no audio file to fetch or cache) and repeats
//   every CHIME_EVERY_MS until dismissed, but stops after RING_LIMIT_MS so a forgotten tab does
//   not ring all day; the card stays until dismissed.
// - Browsers only let an AudioContext make sound after a user gesture. Chromium accepts any
//   earlier gesture on the page (sticky activation), so the context is created when the first
//   timer rings; Safari wants it resumed inside a gesture, so while timers are pending every
//   tap or key press also resumes it (cheap once it is running). A tab the user never touched
//   (opened, then left while another tab set the timer) may stay silent: it still shows the
//   card, speaks where the browser lets it, and notifies.
// - Notification permission is asked only right after the user sets a timer (a timer action
//   from a command they just sent), never on load. A Notification is shown for every ring once
//   allowed, tagged by timer id so several tabs of the same user show one.
// - Several tabs of one user all receive `timer_due`; dismissing in one tab dismisses in all
//   (BroadcastChannel), so the user does not have to hunt for the tab still ringing.
// - Countdowns use the server's due time; the client clock's offset from the server is
//   estimated from each freshly set timer (due_at - duration_s is "now" on the server), so a
//   wrong clock on the device does not shift the countdown.

import { api, describeError } from './api.js';
import { h } from './dom.js';

const CHIME_EVERY_MS = 2500;
const RING_LIMIT_MS = 3 * 60_000;
// A pending timer whose due time has passed by this much without a `timer_due` frame (the
// socket was down, say) is re-read from the server, which knows whether it rang.
const STALE_AFTER_MS = 4000;
const SNOOZE_MINUTES = 5;
// Below this, an offset estimate is indistinguishable from the reply's own latency.
const SKEW_NOISE_MS = 1500;

const KIND_NAMES = { timer: 'Timer', alarm: 'Alarm', reminder: 'Reminder' };

const clockFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayClockFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: 'numeric', minute: '2-digit' });

/** "4:05", "1:02:03"; never negative. */
export function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hrs = Math.floor(total / 3600);
  const mins = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return hrs > 0 ? `${hrs}:${pad(mins)}:${pad(secs)}` : `${mins}:${pad(secs)}`;
}

/** The words for a remaining time, for screen readers ("4 minutes 5 seconds"). */
function spokenRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const parts = [];
  const push = (n, unit) => { if (n) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`); };
  push(Math.floor(total / 86400), 'day');
  push(Math.floor((total % 86400) / 3600), 'hour');
  push(Math.floor((total % 3600) / 60), 'minute');
  if (total < 3600) push(total % 60, 'second');
  return parts.join(' ') || '0 seconds';
}

function clockTime(date, now = Date.now()) {
  return (date.getTime() - now > 20 * 3600_000 ? dayClockFmt : clockFmt).format(date);
}

/** "Pasta timer", "Timer", "Gym alarm", "Reminder: call mom". */
export function timerTitle({ kind, label }) {
  const name = KIND_NAMES[kind] || 'Timer';
  const l = String(label || '').trim();
  if (!l) return name;
  if (kind === 'reminder') return `Reminder: ${l}`;
  return `${l.charAt(0).toUpperCase()}${l.slice(1)} ${name.toLowerCase()}`;
}

/** What is said when it rings. */
function ringSentence({ kind, label, due_at: dueAt }) {
  const l = String(label || '').trim();
  if (kind === 'reminder') return l ? `Reminder: ${l}.` : 'This is your reminder.';
  if (kind === 'alarm') {
    const at = clockFmt.format(new Date(dueAt));
    return l ? `It's ${at}. Your ${l} alarm.` : `It's ${at}. Your alarm is ringing.`;
  }
  return l ? `Your ${l} timer is done.` : "Time's up. Your timer is done.";
}

/**
 * The command that sets the same thing again in five minutes: the rules understand these
 * phrasings and keep the label, so a snooze goes the same way (and is confirmed the same way)
 * as a timer set by hand.
 */
export function snoozeCommand({ kind, label }) {
  const l = String(label || '').trim();
  const d = `${SNOOZE_MINUTES} minutes`;
  if (kind === 'reminder') return l ? `remind me in ${d} to ${l}` : `set a reminder for ${d}`;
  if (kind === 'alarm') return l ? `set an alarm in ${d} called ${l}` : `set an alarm in ${d}`;
  return l ? `set a timer called ${l} for ${d}` : `set a timer for ${d}`;
}

/** A bell drawn inline (emoji fonts are not everywhere; the CSP allows no remote images). */
function bellIcon() {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: '28', height: '28', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linejoin': 'round', 'stroke-linecap': 'round', focusable: 'false' })) svg.setAttribute(k, v);
  for (const d of ['M12 3a5 5 0 0 0-5 5v4l-2 4h14l-2-4V8a5 5 0 0 0-5-5Z', 'M10 19a2 2 0 0 0 4 0']) {
    const path = document.createElementNS(NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A repeating two-note chime through Web Audio. */
export class Chime {
  constructor() {
    this.ctx = null;
    this._timer = 0;
    this._limit = 0;
  }

  get ringing() {
    return this._timer !== 0;
  }

  /** The context, created on first use and resumed if the browser suspended it. */
  context() {
    if (!this.ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      try { this.ctx = new AC(); } catch { return null; }
    }
    if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => { /* no gesture yet */ });
    return this.ctx;
  }

  start() {
    if (this._timer) return;
    this._ding();
    this._timer = setInterval(() => this._ding(), CHIME_EVERY_MS);
    this._limit = setTimeout(() => this.stop(), RING_LIMIT_MS);
  }

  stop() {
    clearInterval(this._timer);
    clearTimeout(this._limit);
    this._timer = 0;
    // A suspended context keeps the audio device closed between rings.
    if (this.ctx && this.ctx.state === 'running') this.ctx.suspend().catch(() => {});
  }

  _ding() {
    const ctx = this.context();
    if (!ctx) return;
    const t0 = ctx.currentTime + 0.05;
    // E6 then A6, each a soft bell-like envelope: audible over a kitchen without being harsh.
    for (const [freq, at] of [[1318.5, 0], [1760, 0.22], [1318.5, 0.9], [1760, 1.12]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + at + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.7);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.75);
    }
  }
}

/**
 * The timers UI. listEl: the pending list container (holds a <ul>); alertsEl: where ringing and
 * missed cards go. speaker: the Speaker (for the spoken label). onSnooze(command): send a
 * command as if the user had typed it. onError(message): show a problem.
 */
export class TimerBoard {
  constructor({ listEl, alertsEl, speaker, onSnooze, onError }) {
    this.listEl = listEl;
    this.itemsEl = listEl.querySelector('ul') || listEl.appendChild(h('ul'));
    this.alertsEl = alertsEl;
    this.speaker = speaker;
    this.onSnooze = onSnooze;
    this.onError = onError || (() => {});
    this.pending = new Map(); // id -> {id, kind, label, due, el, left}
    // Ids that rang, were cancelled or removed: a list read that was already in flight must
    // not bring them back.
    this.gone = new Set();
    this.alerts = new Map(); // id -> {el, notification, ringing}
    this.chime = new Chime();
    this.skewMs = 0; // server clock minus this device's clock
    this._tick = 0;
    this._loading = null;
    this._askedNotify = false;
    try {
      this.channel = new BroadcastChannel('ballsy-timers');
      this.channel.onmessage = ({ data }) => {
        if (data && Number.isFinite(data.dismissed)) this._closeAlert(data.dismissed, { broadcast: false });
      };
    } catch {
      this.channel = null;
    }
    const unlock = (e) => {
      if (e.isTrusted && (this.pending.size || this.chime.ringing)) this.chime.context();
    };
    document.addEventListener('pointerdown', unlock, { capture: true, passive: true });
    document.addEventListener('keydown', unlock, { capture: true });
  }

  /** Read the pending list from the server (on load and after the socket reconnects). */
  load() {
    if (this._loading) return this._loading;
    this._loading = (async () => {
      try {
        const r = await api('/api/timers');
        const list = Array.isArray(r?.timers) ? r.timers : [];
        const seen = new Set();
        for (const t of list) {
          if ((t.status && t.status !== 'pending') || this.gone.has(Number(t.id))) continue;
          seen.add(Number(t.id));
          this._upsert(t);
        }
        for (const id of [...this.pending.keys()]) if (!seen.has(id)) this._drop(id);
      } catch (e) {
        this.onError(`Couldn't load your timers. ${describeError(e)}`);
      } finally {
        this._loading = null;
      }
    })();
    return this._loading;
  }

  /** A `timer` action: `live` when it answers a command sent from this page just now. */
  added(card, { live }) {
    if (!card || !Number.isFinite(Number(card.id))) return;
    if (live) {
      const created = Date.parse(card.due_at) - Number(card.duration_s) * 1000;
      const skew = created - Date.now();
      if (Number.isFinite(skew)) this.skewMs = Math.abs(skew) > SKEW_NOISE_MS ? skew : 0;
      this._askNotifications();
      this.chime.context();
    }
    // A restored history must not resurrect a timer that already rang: only the server's list
    // (load) says what is pending.
    if (live) this._upsert(card);
  }

  /** A `timer_cancelled` action. */
  cancelled(ids) {
    for (const id of Array.isArray(ids) ? ids : []) this._drop(Number(id));
  }

  /** A `timer_due` frame: ring. */
  due(frame) {
    const id = Number(frame.id);
    this._drop(id);
    if (this.alerts.has(id)) return;
    this._showAlert(frame, { missed: false });
    this.chime.start();
    this.speaker.say(ringSentence(frame));
    this._notify(frame);
  }

  /** A `timer_missed` frame (it came due while no page was open). */
  missed(frame) {
    const id = Number(frame.id);
    this._drop(id);
    if (this.alerts.has(id)) return;
    this._showAlert(frame, { missed: true });
  }

  // ---- pending list ----

  _upsert(t) {
    const id = Number(t.id);
    const due = Date.parse(t.due_at);
    if (!Number.isFinite(due)) return;
    const kind = KIND_NAMES[t.kind] ? t.kind : 'timer';
    let item = this.pending.get(id);
    if (!item) {
      const titleEl = h('span', { class: 'timer-title' });
      const left = h('span', { class: 'timer-left', role: 'timer', 'data-testid': 'timer-countdown' });
      const at = h('span', { class: 'timer-at' });
      const remove = h('button', {
        type: 'button', class: 'timer-remove', 'data-testid': 'timer-remove',
        onclick: () => this._remove(id),
      }, h('span', { 'aria-hidden': 'true', text: '×' }));
      const el = h('li', { class: 'timer-item', 'data-testid': 'timer-item', dataset: { timerId: String(id), kind } },
        titleEl, left, at, remove);
      item = { id, el, titleEl, left, at, remove };
      this.pending.set(id, item);
    }
    Object.assign(item, { kind, label: String(t.label || ''), due });
    const title = timerTitle(item);
    item.titleEl.textContent = title;
    item.remove.setAttribute('aria-label', `Cancel ${title.toLowerCase().startsWith('reminder') ? title : `the ${title.toLowerCase()}`}`);
    item.at.textContent = kind === 'timer' ? '' : clockTime(new Date(due));
    item.at.hidden = kind === 'timer';
    this._renderList();
  }

  _drop(id) {
    this.gone.add(id);
    const item = this.pending.get(id);
    if (!item) return;
    this.pending.delete(id);
    item.el.remove();
    this._renderList();
  }

  async _remove(id) {
    const item = this.pending.get(id);
    if (!item) return;
    item.remove.disabled = true;
    try {
      await api(`/api/timers/${encodeURIComponent(id)}`, { method: 'DELETE' });
      this._drop(id);
    } catch (e) {
      if (e.status === 404) {
        // Already rang or was cancelled elsewhere: the server's list is the truth.
        this._drop(id);
        this.load();
      } else {
        item.remove.disabled = false;
        this.onError(`Couldn't cancel that timer. ${describeError(e)}`);
      }
    }
  }

  _renderList() {
    const items = [...this.pending.values()].sort((a, b) => a.due - b.due);
    this.itemsEl.replaceChildren(...items.map((i) => i.el));
    this.listEl.hidden = items.length === 0;
    this._updateCountdowns();
    if (items.length && !this._tick) this._tick = setInterval(() => this._updateCountdowns(), 250);
    else if (!items.length && this._tick) {
      clearInterval(this._tick);
      this._tick = 0;
    }
  }

  _updateCountdowns() {
    const now = Date.now() + this.skewMs;
    let stale = false;
    for (const item of this.pending.values()) {
      const ms = item.due - now;
      const text = formatRemaining(ms);
      if (item.left.textContent !== text) {
        item.left.textContent = text;
        item.left.setAttribute('aria-label', `${spokenRemaining(ms)} left`);
      }
      if (ms < -STALE_AFTER_MS) stale = true;
    }
    if (stale && !this._loading) this.load();
  }

  // ---- ringing and missed cards ----

  _showAlert(frame, { missed }) {
    const id = Number(frame.id);
    const kind = KIND_NAMES[frame.kind] ? frame.kind : 'timer';
    const info = { id, kind, label: String(frame.label || ''), due_at: frame.due_at };
    const title = timerTitle(info);
    const due = new Date(frame.due_at);
    const when = Number.isFinite(due.getTime()) ? clockFmt.format(due) : '';
    const headId = `timer-alert-${id}`;
    const sub = missed
      ? `Missed while Ballsy was closed${when ? ` · due ${when}` : ''}`
      : kind === 'timer' ? "Time's up" : when;
    const buttons = [h('button', {
      type: 'button', class: 'alert-btn', 'data-testid': 'timer-dismiss',
      text: 'Dismiss', onclick: () => this._closeAlert(id),
    })];
    if (!missed) {
      buttons.push(h('button', {
        type: 'button', class: 'alert-btn alert-btn-primary', 'data-testid': 'timer-snooze',
        title: `Set it again for ${SNOOZE_MINUTES} minutes`, text: `+${SNOOZE_MINUTES} min`,
        onclick: () => {
          this._closeAlert(id);
          this.onSnooze(snoozeCommand(info));
        },
      }));
    }
    const el = h('article', {
      class: 'timer-alert', 'data-testid': missed ? 'timer-missed' : 'timer-ringing',
      'aria-labelledby': headId, dataset: { timerId: String(id), kind },
    },
    h('span', { class: 'timer-alert-icon', 'aria-hidden': 'true' }, bellIcon()),
    h('div', { class: 'timer-alert-body' },
      h('h2', { class: 'timer-alert-title', id: headId, text: missed ? `Missed: ${title}` : title }),
      h('p', { class: 'timer-alert-sub', text: sub })),
    h('div', { class: 'timer-alert-actions' }, ...buttons));
    this.alerts.set(id, { el, notification: null, ringing: !missed });
    this.alertsEl.append(el);
    this.alertsEl.hidden = false;
  }

  _closeAlert(id, { broadcast = true } = {}) {
    const alert = this.alerts.get(id);
    if (!alert) return;
    this.alerts.delete(id);
    alert.el.remove();
    try { alert.notification?.close(); } catch { /* already gone */ }
    this.alertsEl.hidden = this.alerts.size === 0;
    if (![...this.alerts.values()].some((a) => a.ringing)) {
      this.chime.stop();
      if (alert.ringing) this.speaker.stop();
    }
    if (broadcast) this.channel?.postMessage({ dismissed: id });
  }

  // ---- notifications ----

  _askNotifications() {
    if (this._askedNotify || !('Notification' in window) || Notification.permission !== 'default') return;
    this._askedNotify = true;
    try {
      const p = Notification.requestPermission();
      p?.catch?.(() => {});
    } catch { /* old callback-only API or blocked: no notifications */ }
  }

  _notify(frame) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    const alert = this.alerts.get(Number(frame.id));
    try {
      const n = new Notification(timerTitle(frame), {
        body: ringSentence(frame), tag: `ballsy-timer-${frame.id}`, requireInteraction: true,
      });
      n.onclick = () => {
        window.focus();
        n.close();
      };
      if (alert) alert.notification = n;
    } catch { /* some browsers only allow notifications from a service worker */ }
  }
}
