// What the page shows for the recorder path (browsers without speech recognition, where a
// recording is uploaded to /api/voice and transcribed by Gemini):
//  - before the first recording, one line at the orb saying that the audio goes to Google,
//    until "Got it" is pressed (remembered in localStorage; "Forget me" clears it with every
//    other ballsy.* key);
//  - while recording, a level meter (role="meter") and the elapsed time against the length
//    cap, both fed by the Listener's 'level' events; the orb follows the level too (--level).
//
// The elements are built here and placed after the orb row, so index.html stays as it is.
// Test hooks: voice-notice, voice-notice-ok, recorder (data-state="idle|recording",
// data-stop-reason="tap|silence|max|size" after a recording), record-meter (aria-valuenow
// 0–100), record-timer ("m:ss / m:ss").

import { h } from './dom.js';

const NOTICE_KEY = 'ballsy.recorderNotice';

/** 65 s → "1:05". */
export const clock = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

export class RecorderView {
  /** listener: the Listener; orb: the orb button; after: the element the view goes after. */
  constructor(listener, { orb, after }) {
    this.orb = orb;
    this.noticeWanted = false;

    const text = h('span', { id: 'voice-notice-text', text: 'Your voice is sent to Google to be transcribed.' });
    this.ok = h('button', {
      type: 'button', class: 'rec-notice-ok', 'data-testid': 'voice-notice-ok',
      'aria-describedby': 'voice-notice-text', text: 'Got it',
    });
    this.notice = h('p', { class: 'rec-notice', 'data-testid': 'voice-notice', hidden: true }, text, this.ok);
    this.bar = h('span', { class: 'rec-meter-bar' });
    this.meter = h('div', {
      class: 'rec-meter', 'data-testid': 'record-meter', role: 'meter', 'aria-label': 'Microphone level',
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
    }, this.bar);
    this.timer = h('span', { class: 'rec-time', 'data-testid': 'record-timer', role: 'timer', 'aria-label': 'Recording time' });
    this.box = h('div', { class: 'rec', 'data-testid': 'recorder', 'data-state': 'idle', hidden: true }, this.meter, this.timer);
    after.after(this.notice, this.box);

    this.ok.addEventListener('click', () => {
      try { localStorage.setItem(NOTICE_KEY, '1'); } catch { /* storage off: hidden for this page */ }
      this.acknowledged = true;
      this._renderNotice();
    });
    try { this.acknowledged = localStorage.getItem(NOTICE_KEY) === '1'; } catch { this.acknowledged = false; }

    listener.addEventListener('start', (e) => {
      if (e.detail?.kind !== 'record') return;
      this.maxMs = e.detail.maxMs;
      this.shown = -1;
      this.box.dataset.state = 'recording';
      delete this.box.dataset.stopReason;
      this.box.hidden = false;
      this._show({ level: 0, elapsedMs: 0 });
    });
    listener.addEventListener('level', (e) => this._show(e.detail));
    listener.addEventListener('audio', (e) => {
      if (e.detail?.reason) this.box.dataset.stopReason = e.detail.reason;
    });
    listener.addEventListener('end', () => {
      this.box.dataset.state = 'idle';
      this.box.hidden = true;
      delete this.orb.dataset.metered;
      this.orb.style.removeProperty('--level');
    });
  }

  /** Whether the notice applies here (recorder path, and the server can transcribe). */
  setNoticeWanted(on) {
    this.noticeWanted = !!on;
    this._renderNotice();
  }

  _renderNotice() {
    this.notice.hidden = !(this.noticeWanted && !this.acknowledged);
  }

  _show({ level, elapsedMs }) {
    if (level == null) {
      // No Web Audio for this stream: no meter, and the orb keeps its own listening pulse.
      this.meter.hidden = true;
    } else {
      this.meter.hidden = false;
      const pct = Math.round(level * 100);
      if (this.meter.getAttribute('aria-valuenow') !== String(pct)) this.meter.setAttribute('aria-valuenow', String(pct));
      // CSSOM, not a style attribute: the page's CSP (style-src 'self') allows this.
      this.bar.style.transform = `scaleX(${level.toFixed(3)})`;
      this.orb.dataset.metered = '';
      this.orb.style.setProperty('--level', level.toFixed(3));
    }
    const secs = Math.floor(elapsedMs / 1000);
    if (secs !== this.shown) {
      this.shown = secs;
      this.timer.textContent = `${clock(elapsedMs)} / ${clock(this.maxMs)}`;
    }
  }
}
