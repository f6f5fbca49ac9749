// Page chrome: orb state, status line, toasts, connection indicator, offline badge.

import { byTestId, h } from './dom.js';

const ORB_LABELS = {
  idle: 'Tap to talk',
  listening: 'Stop listening',
  thinking: 'Stop and talk',
  speaking: 'Interrupt and talk',
  error: 'Tap to talk',
};

const CONN_LABELS = {
  connected: 'Connected',
  connecting: 'Connecting…',
  disconnected: 'Reconnecting…',
  idle: 'Idle',
};

const CONN_TITLES = {
  connected: 'Live connection to Ballsy',
  connecting: 'Connecting to Ballsy…',
  disconnected: 'Connection lost. Reconnecting automatically; messages are still sent.',
  idle: 'Paused while idle. Reconnects when you talk or type.',
};

export class UI {
  constructor() {
    this.orb = byTestId('orb');
    this.mic = byTestId('mic-button');
    this.statusEl = byTestId('status-line');
    this.interimEl = byTestId('interim');
    this.conn = byTestId('connection-indicator');
    this.badge = byTestId('offline-badge');
    this.toasts = document.getElementById('toasts');
    this.orbState = 'idle';
    this.defaultHint = 'Tap the orb or press Space to talk';
    this._sticky = null; // {text, tone, until}
    this._stickyTimer = 0;
    this._toastKeys = new Map();
    this.connection = 'connecting';
    this.voiceOff = null;
  }

  setOrb(state) {
    this.orbState = state;
    document.body.dataset.orbState = state;
    const listening = state === 'listening';
    // Without voice input the orb stops a reply, or takes the person to the message box.
    const off = this.voiceOff && !listening;
    const label = off ? (state === 'thinking' || state === 'speaking' ? 'Stop' : this.voiceOff.label) : ORB_LABELS[state] || ORB_LABELS.idle;
    this.orb.setAttribute('aria-label', label);
    this.mic.setAttribute('aria-pressed', String(listening));
    this.mic.setAttribute('aria-label', listening ? 'Stop listening' : off ? this.voiceOff.label : 'Start talking');
    this.mic.title = off ? this.voiceOff.label : 'Talk (Space)';
    if (state === 'listening' || state === 'thinking') this._sticky = null;
    this._renderStatus();
  }

  /**
   * Voice input cannot work here: {label} for the orb and the mic button, {hint} for the status
   * line, said before anyone taps. null when it can.
   */
  setVoiceOff(off) {
    this.voiceOff = off || null;
    if (off) document.body.dataset.voice = 'off';
    else delete document.body.dataset.voice;
    this.setOrb(this.orbState);
  }

  /** Default status text for a state, shown when no message is pinned. */
  stateText(state) {
    if (this.liveText && state !== 'error') return this.liveText;
    switch (state) {
      case 'listening': return this.listenText || 'Listening…';
      case 'thinking': return 'Thinking…';
      case 'speaking': return 'Speaking… tap the orb to interrupt';
      default:
        // A lost connection is said where the person is already looking, not in a toast.
        if (this.connection === 'disconnected') {
          return navigator.onLine === false
            ? "You're offline. Ballsy reconnects when the network is back."
            : 'Reconnecting to Ballsy… you can still type.';
        }
        return this.voiceOff?.hint || this.defaultHint;
    }
  }

  /** Pin a message in the status line for ms (it yields to new listening/thinking). */
  status(text, { tone = 'info', ms = 7000 } = {}) {
    this._sticky = { text, tone, until: Date.now() + ms };
    clearTimeout(this._stickyTimer);
    this._stickyTimer = setTimeout(() => this._renderStatus(), ms + 20);
    this._renderStatus();
  }

  /** While Live mode is on, its state replaces the per-orb-state hints (null: classic hints). */
  setLiveText(text, tone = 'info') {
    this.liveText = text || null;
    this.liveTone = tone;
    if (tone === 'warn') this._sticky = null; // "Reconnecting…" must not hide behind an old message
    this._renderStatus();
  }

  clearStatus() {
    this._sticky = null;
    this._renderStatus();
  }

  _renderStatus() {
    const st = this._sticky && Date.now() < this._sticky.until ? this._sticky : null;
    if (!st) this._sticky = null;
    const text = st ? st.text : this.stateText(this.orbState);
    if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
    this.statusEl.dataset.tone = st ? st.tone : this.liveText ? this.liveTone : 'info';
  }

  setInterim(text) {
    this.interimEl.textContent = text || '';
  }

  /**
   * A toast (data-testid="notice"). key de-duplicates: a newer toast with the same key replaces
   * the old. action: {label, run} adds a button (data-testid="notice-action") that runs and
   * dismisses it.
   */
  toast(text, { tone = 'info', ms = 7000, key = text, action = null } = {}) {
    this._toastKeys.get(key)?.remove();
    const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
    const act = action && h('button', { type: 'button', class: 'toast-action', 'data-testid': 'notice-action', text: action.label });
    const el = h('div', {
      class: 'toast', 'data-testid': 'notice', 'data-tone': tone,
      role: tone === 'error' ? 'alert' : 'status',
    }, h('span', { class: 'toast-text', text }), act, close);
    const remove = () => {
      clearTimeout(timer);
      if (this._toastKeys.get(key) === el) this._toastKeys.delete(key);
      el.remove();
    };
    let timer = 0;
    close.addEventListener('click', remove);
    act?.addEventListener('click', () => {
      remove();
      action.run();
    });
    this._toastKeys.set(key, el);
    this.toasts.append(el);
    while (this.toasts.children.length > 3) this.toasts.firstElementChild.remove();
    if (ms > 0) timer = setTimeout(remove, ms);
    return el;
  }

  setConnection(state) {
    this.conn.dataset.state = state;
    this.conn.title = CONN_TITLES[state] || '';
    this.conn.querySelector('.conn-label').textContent = CONN_LABELS[state] || state;
    this.connection = state;
    this._renderStatus();
  }

  setOffline(on) {
    this.badge.hidden = !on;
  }
}
