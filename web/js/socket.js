// WebSocket client for /ws/voice/{client_id}.
//
// States (also the connection indicator's data-state):
//   connecting   - a socket is being opened
//   connected    - open and usable
//   disconnected - dropped or offline; a reconnect is scheduled (backoff + full jitter)
//   idle         - closed on purpose after inactivity (by us, or the server's 1000);
//                  reopened on demand by ensureOpen(), no error shown
//
// Events: 'state' {state}, 'open', 'message' {msg}, 'close' {code, reason, wasClean}

import { backoffDelay } from './dom.js';

const MAX_FRAMES_KEPT = 50;

export class VoiceSocket extends EventTarget {
  /** url: a string, or a function returning one (read at each connect). */
  constructor({ url, idleMs = 4 * 60_000, baseMs = 500, capMs = 30_000, pingMs = 45_000, pongMs = 10_000, canIdle = () => true }) {
    super();
    this.url = url;
    this.idleMs = idleMs;
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.pingMs = pingMs;
    this.pongMs = pongMs;
    this.canIdle = canIdle;
    this.state = 'idle';
    this.ws = null;
    this.attempt = 0;
    /** The last 50 frames this page sent (parsed objects), oldest first. Test hook. */
    this.sentFrames = [];
    this._reconnectTimer = 0;
    this._idleTimer = 0;
    this._pingTimer = 0;
    this._pongTimer = 0;
    this._wantIdle = false;

    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.state === 'disconnected') this._reconnectNow();
    });
    window.addEventListener('online', () => {
      if (this.state === 'disconnected') this._reconnectNow();
    });
    window.addEventListener('offline', () => {
      if (this.ws) this._drop();
      else if (this.state !== 'idle') this._setState('disconnected');
    });
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Start (or restart) the connection. Idempotent while connecting/connected. */
  connect() {
    clearTimeout(this._reconnectTimer);
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    this._open();
  }

  /** Resolve true once open (opening it on demand), false on failure or after timeoutMs. */
  ensureOpen(timeoutMs = 2500) {
    if (this.isOpen) return Promise.resolve(true);
    if (navigator.onLine === false) return Promise.resolve(false);
    if (!this.ws) {
      this.attempt = Math.min(this.attempt, 1);
      this.connect();
    }
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(t);
        this.removeEventListener('open', onOpen);
        this.removeEventListener('close', onClose);
        resolve(ok);
      };
      const onOpen = () => done(true);
      const onClose = () => done(false);
      const t = setTimeout(() => done(this.isOpen), timeoutMs);
      this.addEventListener('open', onOpen);
      this.addEventListener('close', onClose);
    });
  }

  /** Send one JSON frame. Returns false (and sends nothing) when the socket is not open. */
  send(obj) {
    if (!this.isOpen) return false;
    try { this.ws.send(JSON.stringify(obj)); } catch { return false; }
    this.sentFrames.push(structuredClone(obj));
    if (this.sentFrames.length > MAX_FRAMES_KEPT) this.sentFrames.splice(0, this.sentFrames.length - MAX_FRAMES_KEPT);
    return true;
  }

  /** Note user activity (a command): pushes back the idle close. */
  touch() {
    clearTimeout(this._idleTimer);
    if (this.isOpen) this._idleTimer = setTimeout(() => this._idleClose(), this.idleMs);
  }

  // ---- internals ----

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.dispatchEvent(new CustomEvent('state', { detail: { state: s } }));
  }

  _open() {
    this._wantIdle = false;
    let ws;
    try {
      ws = new WebSocket(typeof this.url === 'function' ? this.url() : this.url);
    } catch {
      this._setState('disconnected');
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this._setState('connecting');
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this._setState('connected');
      this.send({ status: 'listening' });
      this.touch();
      this._startPing();
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws || typeof ev.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object') return;
      clearTimeout(this._pongTimer); // any frame proves the connection is alive
      this.dispatchEvent(new CustomEvent('message', { detail: { msg } }));
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._closed(ev.code, ev.reason, ev.wasClean);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  _closed(code, reason = '', wasClean = false) {
    const wantIdle = this._wantIdle;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    clearTimeout(this._idleTimer);
    this._stopPing();
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason, wasClean } }));
    if (wantIdle || code === 1000) {
      // Our own idle close, or the server's idle timeout: reopen on demand only.
      this._setState('idle');
      return;
    }
    this._setState('disconnected');
    if (code === 1001 || code === 1012) {
      // Server going away / restarting: come back promptly (jitter spreads a fleet of tabs).
      this.attempt = 0;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = setTimeout(() => this._reconnectNow(), 200 + Math.random() * 800);
      return;
    }
    this._scheduleReconnect();
  }

  /** Close the current socket as if it dropped (used for offline / missing pong). */
  _drop() {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(); } catch { /* ignore */ }
    this._closed(1006, 'dropped', false);
  }

  _scheduleReconnect() {
    clearTimeout(this._reconnectTimer);
    // While offline or hidden, wait for 'online' / 'visibilitychange' instead of spinning.
    if (navigator.onLine === false || document.visibilityState === 'hidden') return;
    const delay = backoffDelay(this.attempt++, this.baseMs, this.capMs);
    this._reconnectTimer = setTimeout(() => {
      if (navigator.onLine === false || document.visibilityState === 'hidden') return;
      this._open();
    }, delay);
  }

  _reconnectNow() {
    clearTimeout(this._reconnectTimer);
    if (this.ws) return;
    this._open();
  }

  _idleClose() {
    if (!this.isOpen) return;
    if (!this.canIdle()) {
      this._idleTimer = setTimeout(() => this._idleClose(), 30_000);
      return;
    }
    this._wantIdle = true;
    try { this.ws.close(1000, 'idle'); } catch { /* ignore */ }
    // Don't wait for the server's close frame to update the UI.
    this._closed(1000, 'idle', true);
  }

  _startPing() {
    this._stopPing();
    this._pingTimer = setInterval(() => {
      if (!this.isOpen) return;
      if (this.send({ type: 'ping' })) {
        clearTimeout(this._pongTimer);
        this._pongTimer = setTimeout(() => this._drop(), this.pongMs);
      }
    }, this.pingMs);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
  }
}
