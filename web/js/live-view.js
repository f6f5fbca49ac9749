// The Live switch and what Live mode shows: transcripts as conversation messages (the user's
// words grow while they talk and settle when the model answers; the model's words stream in as
// it speaks), the same action cards as classic mode, the orb following whoever is talking, and
// the connection state in the status line.
//
// Test hooks: data-testid="live-switch" (a role=switch checkbox), <body data-live="off|starting|
// connecting|ready|reconnecting|paused">, the orb's --orb-level custom property (0..1), and
// window.__ballsy.live (see app.js). Bubbles made here carry data-source="live".

const STATUS = {
  starting: 'Starting Live… allow the microphone if asked.',
  connecting: 'Connecting to Live…',
  ready: 'Live: just talk. Tap the orb to mute.',
  muted: 'Live: microphone muted. Tap the orb to talk.',
  reconnecting: 'Reconnecting…',
  paused: 'Live paused after a quiet minute. Tap the orb to talk again.',
};

/** Speech RMS sits around 0.02–0.2; this maps it onto the orb's 0..1 with headroom. */
const LEVEL_GAIN = 5;

/** Whether two versions of an utterance's transcript are the same utterance (one extends the other). */
function continues(before, now) {
  const norm = (t) => t.trim().toLowerCase();
  const a = norm(before);
  const b = norm(now);
  return b.startsWith(a) || a.startsWith(b);
}

export class LiveView {
  /**
   * live: a LiveVoice; chat: the ChatView; ui: the UI; toggle: the switch <input>;
   * onAction(bubble, action, data): renders a card as classic mode does;
   * beforeStart(): stop whatever classic mode is doing; onChange(): the orb/status may change.
   */
  constructor({ live, chat, ui, toggle, orb, onAction, beforeStart, onChange }) {
    Object.assign(this, { live, chat, ui, toggle, orb, onAction, beforeStart, onChange });
    this.exchange = null;
    this._raf = 0;
    this._shownLevel = -1;

    toggle.addEventListener('change', () => {
      if (toggle.checked) {
        beforeStart();
        live.start();
      } else {
        live.stop();
      }
    });
    live.addEventListener('state', (e) => this._onState(e.detail.state));
    live.addEventListener('playing', () => onChange());
    live.addEventListener('input_transcript', (e) => this._input(e.detail));
    live.addEventListener('output_transcript', (e) => this._output(e.detail));
    live.addEventListener('interrupted', () => this._close('interrupted'));
    live.addEventListener('turn_complete', () => this._close('complete'));
    live.addEventListener('action', (e) => {
      const b = this._assistant();
      onAction(b, e.detail.action, e.detail.data);
    });
    live.addEventListener('fallback', (e) => {
      this._onState(live.state); // the switch flips back even if Live never got going
      ui.toast(e.detail.message, { tone: 'warn', ms: 12_000, key: 'live' });
      ui.status(e.detail.message, { tone: 'warn', ms: 9000 });
    });
  }

  /** Show the switch (the server has Live configured and this browser can run it). */
  offer(available) {
    this.toggle.closest('label').hidden = !available;
    if (!available && this.live.active) this.live.stop();
  }

  /** The orb's state while Live is on. */
  orbState() {
    const s = this.live.state;
    if (this.live.playing) return 'speaking';
    if (s === 'starting' || s === 'connecting' || s === 'reconnecting') return 'thinking';
    if (s === 'ready' && !this.live.muted) return 'listening';
    return 'idle';
  }

  /** The orb (or Space) in Live mode: mute/unmute, or wake a paused session. */
  talk() {
    if (this.live.state === 'paused') this.live.resume();
    else if (this.live.active) this.live.setMuted(!this.live.muted);
    this._onState(this.live.state);
  }

  // ---- state ----

  _onState(state) {
    document.body.dataset.live = state;
    this.toggle.checked = state !== 'off'; // paused is still Live mode
    const text = state === 'ready' && this.live.muted ? STATUS.muted : STATUS[state] || null;
    this.ui.setLiveText(text, state === 'reconnecting' ? 'warn' : 'info');
    if (state === 'off' || state === 'paused' || state === 'reconnecting') this._close('interrupted');
    if (state === 'off' || state === 'paused') this._stopLevels();
    else this._startLevels();
    this.onChange();
  }

  // ---- transcripts ----

  _new() {
    this.exchange = { user: null, assistant: null, userFinal: false, closed: false };
    return this.exchange;
  }

  _input({ text, final }) {
    let ex = this.exchange;
    // The relay sends the whole utterance so far each time, and marks it final once the model
    // answers, which may come after the model's first words. So a transcript belongs to the
    // open exchange unless that one is closed, or the model already answered and this is not
    // the same utterance (the user talking over it, ahead of the `interrupted` frame).
    const same = ex && !ex.closed && (!ex.assistant || (ex.user && continues(ex.user.text, text)));
    if (!same) {
      if (ex && !ex.closed) this._close('interrupted');
      ex = this._new();
    }
    if (!text.trim() && !ex.user) return;
    const stick = this.chat.nearBottom();
    if (!ex.user) ex.user = this.chat.add('user', text, 'streaming');
    else ex.user.setText(text);
    if (final) {
      ex.userFinal = true;
      ex.user.setStatus('complete');
    }
    this.chat.changed(stick);
  }

  _assistant() {
    let ex = this.exchange;
    if (!ex || ex.closed) ex = this._new();
    if (ex.user && !ex.userFinal) {
      // The model is answering: what the user said is settled.
      ex.userFinal = true;
      ex.user.setStatus('complete');
    }
    if (!ex.assistant) {
      ex.assistant = this.chat.add('assistant', '', 'streaming');
      ex.assistant.setSource('live');
    }
    return ex.assistant;
  }

  _output({ text }) {
    if (!text) return;
    const b = this._assistant();
    const stick = this.chat.nearBottom();
    b.setText(b.text + text);
    this.chat.changed(stick);
  }

  /** End the exchange: the model's bubble becomes `status` (unless it already ended). */
  _close(status) {
    const ex = this.exchange;
    if (!ex || ex.closed) return;
    ex.closed = true;
    if (ex.user && ex.user.status === 'streaming') ex.user.setStatus(ex.user.text.trim() ? 'complete' : 'interrupted');
    if (ex.assistant && ex.assistant.status === 'streaming') ex.assistant.setStatus(status);
  }

  // ---- the orb follows the level ----

  _startLevels() {
    if (this._raf) return;
    const tick = () => {
      this._raf = requestAnimationFrame(tick);
      const live = this.live;
      const raw = live.playing ? live.outputLevel : live.muted ? 0 : live.inputLevel;
      const level = Math.min(1, raw * LEVEL_GAIN);
      // Only touch the style when the change is visible (a custom property set every frame
      // restyles the orb every frame).
      if (Math.abs(level - this._shownLevel) >= 0.02) {
        this._shownLevel = level;
        this.orb.style.setProperty('--orb-level', level.toFixed(2));
      }
    };
    this._raf = requestAnimationFrame(tick);
  }

  _stopLevels() {
    cancelAnimationFrame(this._raf);
    this._raf = 0;
    this._shownLevel = -1;
    this.orb.style.removeProperty('--orb-level');
  }
}
