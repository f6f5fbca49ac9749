// Live voice: the microphone streamed to /ws/live/{client_id} and the model's voice played
// back, through Ballsy's relay to Gemini Live (the key never reaches the page).
//
// One AudioContext, created inside the gesture that switched Live on (browsers only let audio
// start from a gesture), carries both directions: the microphone goes through the capture
// worklet (live-capture-worklet.js: resampled to 16 kHz PCM16, 20 ms chunks) and the replies
// through PcmPlayer (pcm-player.js), so playback is scheduled on the same clock capture runs on.
//
// The socket protocol (plan.md): binary frames are audio both ways; JSON frames up are
// {"type":"ping"}, {"type":"audio_end"} (mic muted: answer now) and {"type":"stop"} (Live
// switched off: the server forgets the session); down they are live_ready, input_transcript
// {text, final} (the utterance so far), output_transcript {text} (append), interrupted,
// turn_complete, action {action, data, response}, error {code, message} and pong.
// Microphone audio is sent only between live_ready and the socket's close: the relay refuses
// audio before Gemini is set up.
//
// States ('state' event, also <body data-live>): off, starting (asking for the microphone),
// connecting, ready, reconnecting (dropped: backoff with jitter), paused (the server ended the
// session after a silent minute; the orb resumes it).
// Other events: 'input_transcript' {text, final}, 'output_transcript' {text}, 'interrupted',
// 'turn_complete', 'action' {action, data, response}, 'playing' (playback started or ended),
// 'fallback' {code, message}: Live cannot go on (budget used up, not available, microphone
// refused); the caller switches back to classic mode and tells the person why.

import { backoffDelay } from './dom.js';
import { PcmPlayer } from './pcm-player.js';

const WORKLET_URL = '/js/live-capture-worklet.js';
const PING_MS = 20_000;
/** Drop microphone audio rather than queue it when the socket is this far behind (~1.5 s). */
const MAX_BUFFERED_BYTES = 48_000;
/** Give up (and fall back to classic mode) after this many failed connects in a row. */
const MAX_FAILED_CONNECTS = 6;
/** Close reasons (the relay's) after which reconnecting is pointless. */
const FINAL_ERRORS = new Set(['live_budget', 'live_unavailable']);

export const LIVE_MESSAGES = {
  live_budget: "Today's Live minutes are used up, so Ballsy is back in classic mode. Live is back tomorrow.",
  live_unavailable: "Live voice isn't available right now, so Ballsy is back in classic mode.",
  unreachable: "Couldn't reach Live voice, so Ballsy is back in classic mode.",
  mic_denied: 'Live needs the microphone. Allow it for this site, or keep using classic mode.',
  no_mic: 'No microphone found for Live. Check that one is connected, or keep using classic mode.',
  unsupported: "This browser can't run Live voice (it needs AudioWorklet). Classic mode still works.",
  insecure: 'Live voice needs a secure (https) page. Classic mode still works.',
};

/** Whether this browser has what Live needs at all. */
export function liveSupported() {
  const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
  return !!(AC && globalThis.AudioWorkletNode && navigator.mediaDevices?.getUserMedia && globalThis.WebSocket);
}

export class LiveVoice extends EventTarget {
  /** url(): the socket URL, read at each connect. */
  constructor({ url }) {
    super();
    this.url = url;
    this.state = 'off';
    this.ctx = null;
    this.stream = null;
    this.node = null;
    this.player = null;
    this.ws = null;
    this.ready = false;
    this.muted = false;
    this.failures = 0;
    this.inputLevel = 0;
    this._endCode = null;
    this._reconnectTimer = 0;
    this._pingTimer = 0;
    this._gen = 0;
    /** Counters for the test hooks (window.__ballsy.live). */
    this.stats = { sentFrames: 0, sentBytes: 0, droppedFrames: 0, receivedFrames: 0, receivedBytes: 0, connects: 0 };
  }

  get active() {
    return this.state !== 'off';
  }

  get playing() {
    return !!this.player?.playing;
  }

  get outputLevel() {
    return this.player ? this.player.level() : 0;
  }

  /**
   * Switch Live on. Call from the click handler itself: the AudioContext is created (and
   * resumed) synchronously, inside the gesture.
   */
  start() {
    if (this.active) return;
    if (globalThis.isSecureContext === false) return this._fallback('insecure');
    if (!liveSupported()) return this._fallback('unsupported');
    const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
    // 'interactive' keeps the output latency low; the device picks the rate (Firefox refuses to
    // connect a microphone to a context running at another rate, so no sampleRate is forced).
    this.ctx = new AC({ latencyHint: 'interactive' });
    this.ctx.resume().catch(() => {});
    this.player = new PcmPlayer(this.ctx);
    this.player.addEventListener('change', () => this._emit('playing'));
    this._setState('starting');
    this._openMic().then((ok) => {
      if (ok && this.state === 'starting') this._connect();
    });
  }

  /** Switch Live off: tell the server (it forgets the session), release mic and audio. */
  stop() {
    if (!this.active) return;
    if (this.ws?.readyState === WebSocket.OPEN) {
      try { this.ws.send(JSON.stringify({ type: 'stop' })); } catch { /* closing anyway */ }
    }
    this._teardown();
    this._setState('off');
  }

  /** After the server paused the session (a silent minute): start again, in a gesture. */
  resume() {
    if (this.state !== 'paused') return;
    this.state = 'off';
    this.start();
  }

  /** Mute or unmute the microphone; muting tells the model the user is done (audio_end). */
  setMuted(muted) {
    this.muted = !!muted;
    this.node?.port.postMessage({ muted: this.muted });
    if (this.muted) {
      this.inputLevel = 0;
      this._sendJson({ type: 'audio_end' });
    }
    this._emit('state', { state: this.state });
  }

  /** Stop the model's voice here (the Escape key), without waiting for the server. */
  silence() {
    this.player?.stop();
  }

  // ---- microphone ----

  async _openMic() {
    const gen = this._gen;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      if (gen !== this._gen) {
        this.stream.getTracks().forEach((t) => t.stop());
        return false;
      }
      await this.ctx.audioWorklet.addModule(WORKLET_URL);
      if (gen !== this._gen) return false;
      const source = this.ctx.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.ctx, 'ballsy-capture', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
      this.node.port.onmessage = ({ data }) => this._onChunk(data);
      source.connect(this.node);
      // A node only runs while something pulls on it: a muted path to the destination makes
      // every browser process the worklet (its output is silence anyway).
      const sink = this.ctx.createGain();
      sink.gain.value = 0;
      this.node.connect(sink).connect(this.ctx.destination);
      if (this.muted) this.node.port.postMessage({ muted: true });
      return true;
    } catch (e) {
      if (gen !== this._gen) return false;
      const name = e?.name;
      const code = name === 'NotAllowedError' || name === 'SecurityError' ? 'mic_denied'
        : name === 'NotFoundError' || name === 'NotReadableError' || name === 'OverconstrainedError' ? 'no_mic'
        : 'unsupported';
      console.warn('Ballsy Live: could not start capture', name, e?.message);
      this._fallback(code);
      return false;
    }
  }

  _onChunk({ pcm, level }) {
    // Smoothed with a fast attack and a slower release, so the orb does not flicker.
    this.inputLevel = level > this.inputLevel ? level : this.inputLevel * 0.8 + level * 0.2;
    if (!this.ready || this.muted || this.ws?.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      // The network is behind: stale speech is worse than a gap.
      this.stats.droppedFrames++;
      return;
    }
    this.ws.send(pcm);
    this.stats.sentFrames++;
    this.stats.sentBytes += pcm.byteLength;
  }

  // ---- socket ----

  _connect() {
    clearTimeout(this._reconnectTimer);
    this._endCode = null;
    this.ready = false;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this._dropped();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.stats.connects++;
    if (this.state !== 'reconnecting') this._setState('connecting');
    ws.onopen = () => {
      if (ws !== this.ws) return;
      clearInterval(this._pingTimer);
      this._pingTimer = setInterval(() => this._sendJson({ type: 'ping' }), PING_MS);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      if (typeof ev.data === 'string') this._onJson(ev.data);
      else {
        this.stats.receivedFrames++;
        this.stats.receivedBytes += ev.data.byteLength;
        this.player?.enqueue(ev.data);
      }
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._onClose(ev);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  _onJson(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    switch (msg?.type) {
      case 'live_ready':
        this.ready = true;
        this.failures = 0;
        this._setState('ready');
        return;
      case 'input_transcript':
        this._emit('input_transcript', { text: String(msg.text ?? ''), final: !!msg.final });
        return;
      case 'output_transcript':
        this._emit('output_transcript', { text: String(msg.text ?? '') });
        return;
      case 'interrupted':
        // First thing: the person is talking over the model, every queued word must go.
        this.player?.stop();
        this._emit('interrupted');
        return;
      case 'turn_complete':
        this._emit('turn_complete');
        return;
      case 'action':
        this._emit('action', { action: msg.action, data: msg.data || {}, response: String(msg.response ?? '') });
        return;
      case 'error':
        if (FINAL_ERRORS.has(msg.code) || msg.code === 'live_idle') this._endCode = msg.code;
        else console.warn('Ballsy Live:', msg.code, msg.message);
        return;
      default:
        return; // pong, and anything newer than this page
    }
  }

  _onClose({ code, reason }) {
    const end = this._endCode;
    this._closeSocket();
    if (FINAL_ERRORS.has(end)) return this._fallback(end);
    if (end === 'live_idle') {
      // The relay ended a silent session (it bills by the minute): release the microphone and
      // wait for the person to come back, rather than reconnecting into silence.
      this._teardown();
      this._setState('paused');
      return;
    }
    if (code === 1000 && reason === 'live stopped') return;
    // Everything else reconnects: 'session lifetime' and 'server restarting' at once (the
    // relay resumes the Gemini session from its stored handle), a drop with backoff.
    const prompt = code === 1001 || code === 1012 || (code === 1000 && reason === 'session lifetime');
    this._dropped(prompt);
  }

  _dropped(prompt = false) {
    this.player?.stop();
    if (!this.ready && !prompt) this.failures++;
    this.ready = false;
    if (this.failures >= MAX_FAILED_CONNECTS) return this._fallback('unreachable');
    this._setState('reconnecting');
    const delay = prompt ? 200 + Math.random() * 600 : 300 + backoffDelay(this.failures, 500, 15_000);
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => {
      if (this.state === 'reconnecting') this._connect();
    }, delay);
  }

  _sendJson(obj) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    try { this.ws.send(JSON.stringify(obj)); } catch { return false; }
    return true;
  }

  _closeSocket() {
    clearInterval(this._pingTimer);
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      try { ws.close(1000, 'live off'); } catch { /* gone */ }
    }
  }

  _teardown() {
    this._gen++;
    clearTimeout(this._reconnectTimer);
    this._closeSocket();
    this.player?.close();
    this.player = null;
    try { this.node?.disconnect(); } catch { /* gone */ }
    if (this.node) this.node.port.onmessage = null;
    this.node = null;
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.ctx?.close().catch(() => {});
    this.ctx = null;
    this.inputLevel = 0;
    this.failures = 0;
  }

  _fallback(code) {
    this._teardown();
    this._setState('off');
    this._emit('fallback', { code, message: LIVE_MESSAGES[code] || LIVE_MESSAGES.live_unavailable });
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('state', { state });
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
