// Text-to-speech with the browser's speechSynthesis, sentence by sentence.
//
// While a reply streams, feed(streamedText) speaks each sentence as soon as it is
// complete (ends in . ! ? … followed by whitespace, or a newline). finish(finalText)
// speaks what is left; if the final text no longer starts with what was already
// spoken (e.g. the server replaced an uncertain answer with a fallback), the queue is
// cancelled and the final text is spoken instead. Short utterances also dodge
// Chrome's ~15 s cut-off for network voices.
//
// Events: 'change' (active flipped), 'idle' (queue drained or stopped).

import { stripMarkdown } from './markdown.js';

// A list number at the start of a line ("1. Eggs") is not the end of a sentence.
const BOUNDARY = /(?<!^[ \t]*\d{1,9})[.!?…]+["'”’)\]]*(?=\s)|\n+/gm;
const MAX_CHUNK = 220;
const DEFAULT_WPM = 175;

/** Index just past the first sentence boundary at or after `from`, or -1. */
export function nextSentenceEnd(text, from = 0) {
  BOUNDARY.lastIndex = from;
  const m = BOUNDARY.exec(text);
  return m ? m.index + m[0].length : -1;
}

/** Split complete text into sentences (the tail without punctuation is one too). */
export function splitSentences(text) {
  const out = [];
  let i = 0;
  for (let end = nextSentenceEnd(text, 0); end >= 0; end = nextSentenceEnd(text, i)) {
    out.push(text.slice(i, end));
    i = end;
  }
  if (i < text.length) out.push(text.slice(i));
  return out.map((s) => s.trim()).filter(Boolean);
}

/** Make text pleasant to hear: drop Markdown marks, read URLs as their host. */
export function cleanForSpeech(text) {
  return stripMarkdown(text)
    .replace(/https?:\/\/(?:www\.)?([^/\s]+)\S*/g, '$1')
    .replace(/[*`#>~|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Break an over-long sentence at a comma/semicolon, else at a space. */
function chunkLong(s) {
  const out = [];
  while (s.length > MAX_CHUNK) {
    let cut = Math.max(s.lastIndexOf(', ', MAX_CHUNK), s.lastIndexOf('; ', MAX_CHUNK));
    if (cut < MAX_CHUNK / 3) cut = s.lastIndexOf(' ', MAX_CHUNK);
    if (cut < MAX_CHUNK / 3) cut = MAX_CHUNK;
    out.push(s.slice(0, cut + 1).trim());
    s = s.slice(cut + 1).trim();
  }
  if (s) out.push(s);
  return out;
}

const isAppleTouch = () =>
  /iPhone|iPad|iPod/.test(navigator.userAgent) ||
  (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

export class Speaker extends EventTarget {
  /** prefs(): {voice: name or '', wpm: number, lang: BCP-47} read at speak time. */
  constructor(prefs) {
    super();
    this.prefs = prefs;
    this.live = new Set(); // utterances queued or speaking (kept referenced: Chrome drops onend for GC'd ones)
    this.streamed = '';
    this.spokenUpTo = 0; // index into `streamed` of text already queued
    this.primed = false;
    this.lastSpoken = []; // test/debug aid: recent chunks handed to speechSynthesis
    this._watch = 0;
    this._quiet = 0;
  }

  get synth() {
    return globalThis.speechSynthesis || null;
  }

  get supported() {
    return !!this.synth && typeof globalThis.SpeechSynthesisUtterance === 'function';
  }

  get active() {
    return this.live.size > 0;
  }

  voices() {
    try { return this.synth?.getVoices?.() || []; } catch { return []; }
  }

  onVoicesChanged(fn) {
    const s = this.synth;
    if (!s) return;
    if (typeof s.addEventListener === 'function') s.addEventListener('voiceschanged', fn);
    else s.onvoiceschanged = fn;
  }

  /** iOS only speaks after a gesture has spoken once: call from the first tap. */
  prime() {
    if (this.primed || !this.supported) return;
    this.primed = true;
    if (!isAppleTouch()) return;
    try {
      const u = new SpeechSynthesisUtterance(' ');
      u.volume = 0;
      this.synth.speak(u);
    } catch { /* ignore */ }
  }

  /** Start bookkeeping for a new reply (does not stop current speech). */
  begin() {
    this.streamed = '';
    this.spokenUpTo = 0;
  }

  /** Streamed text so far: speak each newly completed sentence. */
  feed(streamed) {
    this.streamed = streamed;
    let i = this.spokenUpTo;
    for (let end = nextSentenceEnd(streamed, i); end >= 0; end = nextSentenceEnd(streamed, i)) {
      this._queue(streamed.slice(i, end));
      i = end;
    }
    this.spokenUpTo = i;
  }

  /** The reply's final text: speak the unspoken remainder (or all of it if it changed). */
  finish(finalText) {
    finalText = String(finalText ?? '');
    const spoken = this.streamed.slice(0, this.spokenUpTo).trimStart();
    const final = finalText.trimStart();
    let rest;
    if (!spoken) rest = finalText;
    else if (final.startsWith(spoken)) rest = final.slice(spoken.length);
    else {
      this._cancelQueue();
      rest = finalText;
    }
    this.begin();
    for (const s of splitSentences(rest)) this._queue(s);
    this._emitIfIdle();
  }

  /** Speak a standalone message (errors, notices). */
  say(text) {
    for (const s of splitSentences(String(text))) this._queue(s);
  }

  /** Stop speaking now and forget the current reply. */
  stop() {
    const had = this.active;
    this.begin();
    this._cancelQueue();
    if (had) this._emit();
  }

  // ---- internals ----

  _cancelQueue() {
    const had = this.live.size;
    for (const u of this.live) clearTimeout(u.__ballsyTimer);
    this.live.clear();
    clearInterval(this._watch);
    if (had || this.synth?.speaking || this.synth?.pending) {
      try { this.synth?.cancel(); } catch { /* ignore */ }
    }
  }

  _queue(raw) {
    if (!this.supported) return;
    const text = cleanForSpeech(raw);
    if (!text || !/[\p{L}\p{N}]/u.test(text)) return;
    const { voice: voiceName = '', wpm = DEFAULT_WPM, lang = '' } = this.prefs() || {};
    const voices = this.voices();
    const voice = voiceName ? voices.find((v) => v.name === voiceName || v.voiceURI === voiceName) : null;
    const rate = Math.min(10, Math.max(0.1, (Number(wpm) || DEFAULT_WPM) / DEFAULT_WPM));
    for (const part of chunkLong(text)) {
      const wasActive = this.active;
      const u = new SpeechSynthesisUtterance(part);
      try { if (voice) u.voice = voice; } catch { /* not a real SpeechSynthesisVoice */ }
      u.lang = voice?.lang || lang || '';
      u.rate = rate;
      const done = () => this._done(u);
      u.onend = done;
      u.onerror = done;
      // Safety net in case a browser (or stub) never reports the end.
      const queuedChars = [...this.live].reduce((n, q) => n + (q.text?.length || 0), 0);
      u.__ballsyTimer = setTimeout(done, ((queuedChars + part.length) * 57 / rate) * 2 + 8000);
      this.live.add(u);
      this.lastSpoken.push(part);
      if (this.lastSpoken.length > 20) this.lastSpoken.shift();
      try {
        if (this.synth.paused) this.synth.resume();
        this.synth.speak(u);
      } catch {
        this._done(u);
        continue;
      }
      if (!wasActive) this._emit();
    }
    this._startWatch();
  }

  _done(u) {
    if (!this.live.delete(u)) return;
    clearTimeout(u.__ballsyTimer);
    if (!this.live.size) {
      clearInterval(this._watch);
      this._emit();
    }
  }

  // Chrome sometimes never fires onend; if the engine says it is silent twice in a row, we're done.
  _startWatch() {
    clearInterval(this._watch);
    this._quiet = 0;
    this._watch = setInterval(() => {
      const s = this.synth;
      if (!this.live.size) return clearInterval(this._watch);
      if (s && s.speaking === false && s.pending === false) {
        if (++this._quiet >= 2) {
          for (const u of [...this.live]) this._done(u);
        }
      } else this._quiet = 0;
    }, 1500);
  }

  _emitIfIdle() {
    if (!this.active) this.dispatchEvent(new Event('idle'));
  }

  _emit() {
    this.dispatchEvent(new Event('change'));
    if (!this.active) this.dispatchEvent(new Event('idle'));
  }
}
