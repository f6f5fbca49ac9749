// Speech input. Two paths:
//  - 'speech': the Web Speech API (SpeechRecognition / webkitSpeechRecognition), interim
//    results on, one utterance per start(). Handlers are attached both as on* properties
//    and with addEventListener (when present); each event object is handled once, so real
//    browsers and simple stubs that only call this.onresult(...) both work.
//  - 'record': MediaRecorder (Firefox): record until stop(), the end of speech (EndOfSpeech
//    below, on an AnalyserNode of the same stream) or the length cap, then hand the Blob back
//    for upload to /api/voice. While recording, 'level' events report the microphone level
//    and the elapsed time against that cap.
//
// Events: 'start' {kind, maxMs}, 'interim' {text}, 'final' {text}, 'level' {level, elapsedMs,
//         maxMs, heard}, 'audio' {blob, reason}, 'error' {code}, 'end'
// 'audio' reasons: tap (stop()), silence (end of speech), max (length cap), size (upload cap).
// Error codes: not-allowed, no-speech, audio-capture, network, language-not-supported,
//              unsupported, insecure, start-failed (and whatever else the browser reports).

const SRClass = () => globalThis.SpeechRecognition || globalThis.webkitSpeechRecognition || null;

const isSafari = () => /Safari\//.test(navigator.userAgent) && !/Chrome|Chromium|Edg\//.test(navigator.userAgent);

/** Best MediaRecorder type: webm/opus, then ogg, then mp4 (mp4 first on Safari, whose webm is flaky). */
export function pickMimeType() {
  const MR = globalThis.MediaRecorder;
  if (!MR) return null;
  if (typeof MR.isTypeSupported !== 'function') return '';
  let prefs = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/ogg', 'audio/mp4'];
  if (isSafari()) prefs = ['audio/mp4', ...prefs.slice(0, -1)];
  return prefs.find((t) => MR.isTypeSupported(t)) ?? '';
}

export function extensionFor(type) {
  const t = String(type).split(';')[0].trim();
  return { 'audio/webm': 'webm', 'audio/ogg': 'ogg', 'audio/mp4': 'm4a', 'audio/wav': 'wav', 'audio/mpeg': 'mp3' }[t] || 'webm';
}

// The recorder asks for this bitrate (plenty for speech in Opus), so the upload cap can be
// turned into a length: maxMs = maxBytes * RECORD_CAP_SHARE / (bits per second / 8). The
// share leaves room for variable-bitrate peaks and the container, as the server refuses (413)
// anything above MAX_UPLOAD_BYTES. Browsers that ignore the request and report no bitrate of
// their own are assumed to use FALLBACK_BPS, which only makes the length cap stricter.
export const RECORD_BPS = 32_000;
const FALLBACK_BPS = 128_000;
const RECORD_CAP_SHARE = 0.8;
const TICK_MS = 50;

/** The longest recording that fits in maxBytes at bps, and at most maxMs. */
export function recordLimitMs(maxBytes, maxMs, bps = RECORD_BPS) {
  const fits = Math.floor(((maxBytes * RECORD_CAP_SHARE) / ((bps || FALLBACK_BPS) / 8)) * 1000);
  return Math.max(1000, Math.min(maxMs, fits));
}

/** RMS in dBFS mapped to 0..1 for display: -60 dB (or silence) is 0, 0 dB is 1. */
export const displayLevel = (rms) => (rms > 0 ? Math.min(1, Math.max(0, (20 * Math.log10(rms) + 60) / 60)) : 0);

/**
 * End-of-speech detection on RMS readings (one per tick). The first calibrateMs give the
 * noise floor (the lowest reading: someone who starts talking at once still leaves gaps
 * between words); after that, a reading is speech above max(MIN_SPEECH, floor × 3) and quiet
 * below 60 % of that (the band between keeps a fading word from counting as silence).
 * Speech counts once it has lasted minSpeechMs (a click or a cough on the table does not), and
 * update() returns true once it has been followed by silenceMs of quiet. The floor keeps
 * following the quietest reading, so a calibration spoilt by a noise burst heals.
 */
export class EndOfSpeech {
  static MIN_SPEECH = 0.015; // about -36 dBFS; speech through autoGainControl sits well above

  constructor({ calibrateMs = 300, silenceMs = 1500, minSpeechMs = 200 } = {}) {
    Object.assign(this, { calibrateMs, silenceMs, minSpeechMs });
    this.floor = Infinity;
    this.loudMs = 0;
    this.quietMs = 0;
    this.heard = false;
    this.lastT = null;
  }

  /** One reading at t ms since the recording started; true when the speech has ended. */
  update(rms, t) {
    const dt = this.lastT == null ? 0 : Math.max(0, t - this.lastT);
    this.lastT = t;
    if (!(rms >= 0)) return false; // NaN from a broken analyser: ignore the tick
    this.floor = Math.min(this.floor, rms);
    if (t < this.calibrateMs) return false;
    const on = Math.max(EndOfSpeech.MIN_SPEECH, this.floor * 3);
    if (rms >= on) {
      this.loudMs += dt;
      this.quietMs = 0;
      if (this.loudMs >= this.minSpeechMs) this.heard = true;
    } else if (rms < on * 0.6) {
      this.quietMs += dt;
      // Loud moments that far apart were noises, not one utterance starting.
      if (!this.heard && this.quietMs > 400) this.loudMs = 0;
    }
    return this.heard && this.quietMs >= this.silenceMs;
  }
}

/**
 * An AnalyserNode on the microphone stream: read() gives the RMS of the latest ~43 ms.
 * Null when Web Audio is missing or refuses the stream; recording then goes on without a meter
 * or end-of-speech detection (tap and the length cap still stop it).
 */
function openMeter(stream) {
  const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!AC) return null;
  let ctx = null;
  try {
    // Firefox refuses to connect a stream whose sample rate differs from the context's.
    const rate = stream.getAudioTracks()[0]?.getSettings?.().sampleRate;
    try { ctx = rate ? new AC({ sampleRate: rate }) : new AC(); } catch { ctx = new AC(); }
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser); // not to the speakers
    // Started after a tap (sticky activation), so resume() is allowed; harmless when running.
    ctx.resume?.().catch(() => {});
    const buf = new Float32Array(analyser.fftSize);
    return {
      read() {
        analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (let i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
        return Math.sqrt(sum / buf.length);
      },
      close() { ctx.close().catch(() => {}); },
    };
  } catch {
    try { ctx?.close(); } catch { /* ignore */ }
    return null;
  }
}

export class Listener extends EventTarget {
  constructor() {
    super();
    this.session = null;
  }

  /** 'speech', 'record' or null (no voice input possible here). */
  get kind() {
    if (SRClass()) return 'speech';
    if (globalThis.MediaRecorder && navigator.mediaDevices?.getUserMedia) return 'record';
    return null;
  }

  get active() {
    return !!this.session;
  }

  /** opts: {lang, maxBytes, maxMs} */
  start(opts = {}) {
    if (this.session) return;
    const kind = this.kind;
    if (kind === 'speech') this._startSpeech(opts);
    else if (kind === 'record') this._startRecord(opts);
    else {
      this._emit('error', { code: globalThis.isSecureContext === false ? 'insecure' : 'unsupported' });
      this._emit('end');
    }
  }

  /** Stop and deliver what was heard. */
  stop() {
    this.session?.stop();
  }

  /** Stop and discard. */
  abort() {
    this.session?.abort();
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _finish(s) {
    if (this.session !== s) return;
    clearTimeout(s.timer);
    clearTimeout(s.stopTimer);
    clearInterval(s.tick);
    this.session = null;
    this._emit('end');
  }

  // ---- Web Speech API ----

  _startSpeech({ lang = 'en-US', maxMs = 60_000 }) {
    const Rec = SRClass();
    let rec;
    try {
      rec = new Rec();
    } catch {
      this._emit('error', { code: 'start-failed' });
      this._emit('end');
      return;
    }
    const s = { kind: 'speech', rec, final: '', interim: '', delivered: false, errored: false, aborted: false };
    this.session = s;
    s.stop = () => {
      try { rec.stop(); } catch { /* ignore */ }
      // If the engine never reports 'end', finish anyway.
      clearTimeout(s.stopTimer);
      s.stopTimer = setTimeout(() => onEnd(), 4000);
    };
    s.abort = () => {
      s.aborted = true;
      try { rec.abort(); } catch { /* ignore */ }
      this._finish(s);
    };

    const deliver = (text) => {
      if (s.delivered) return;
      s.delivered = true;
      this._emit('final', { text });
    };
    const onStart = () => this._emit('start', { kind: 'speech' });
    const onResult = (e) => {
      const list = e?.results;
      const n = list?.length ?? 0;
      let fin = '';
      let inter = '';
      for (let i = 0; i < n; i++) {
        const r = list[i] ?? list.item?.(i);
        if (!r) continue;
        const alt = r[0] ?? r.item?.(0);
        const t = alt?.transcript ?? '';
        if (r.isFinal) fin += t;
        else inter += t;
      }
      s.final = fin;
      s.interim = inter;
      if (!s.delivered) this._emit('interim', { text: (fin + inter).trim() });
      if (fin.trim() && !inter.trim()) deliver(fin.trim());
    };
    const onError = (e) => {
      const code = e?.error || 'start-failed';
      s.errored = true;
      if (code === 'aborted' || s.aborted) return;
      if (s.delivered) return;
      if (code === 'no-speech' && (s.final || s.interim).trim()) return;
      this._emit('error', { code });
    };
    const onEnd = () => {
      if (this.session !== s) return;
      if (!s.delivered && !s.aborted) {
        // Safari sometimes ends without marking a result final: use what we have.
        const text = (s.final || s.interim).trim();
        if (text) deliver(text);
        else if (!s.errored) this._emit('error', { code: 'no-speech' });
      }
      this._finish(s);
    };

    const seen = new WeakSet();
    const bind = (type, fn) => {
      const handler = (e) => {
        if (e && typeof e === 'object') {
          if (seen.has(e)) return;
          seen.add(e);
        }
        if (this.session !== s) return;
        fn(e);
      };
      try { rec['on' + type] = handler; } catch { /* ignore */ }
      if (typeof rec.addEventListener === 'function') {
        try { rec.addEventListener(type, handler); } catch { /* ignore */ }
      }
    };
    bind('start', onStart);
    bind('result', onResult);
    bind('error', onError);
    bind('end', onEnd);

    try {
      rec.lang = lang;
      rec.interimResults = true;
      rec.continuous = false;
      rec.maxAlternatives = 1;
    } catch { /* stubs may not allow it */ }
    s.timer = setTimeout(() => s.stop(), maxMs);
    try {
      rec.start();
    } catch {
      if (this.session === s) {
        this._emit('error', { code: 'start-failed' });
        this._finish(s);
      }
    }
  }

  // ---- MediaRecorder fallback ----

  async _startRecord({ maxBytes = 2_097_152, maxMs = 30_000 }) {
    const s = {
      kind: 'record', rec: null, stream: null, meter: null, chunks: [], size: 0,
      aborted: false, stopped: false, reason: 'tap', t0: 0,
    };
    this.session = s;
    s.stop = (reason = 'tap') => {
      if (!s.stopped) s.reason = reason;
      s.stopped = true;
      if (s.rec && s.rec.state !== 'inactive') {
        try { s.rec.stop(); } catch { this._finish(s); }
      }
    };
    s.abort = () => {
      s.aborted = true;
      s.stop();
      if (!s.rec) this._finish(s);
    };
    const release = () => {
      clearInterval(s.tick);
      s.meter?.close();
      s.meter = null;
      s.stream?.getTracks().forEach((t) => t.stop());
    };

    try {
      s.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (e) {
      if (this.session !== s) return;
      const name = e?.name;
      const code = name === 'NotAllowedError' || name === 'SecurityError' ? 'not-allowed'
        : name === 'NotFoundError' || name === 'NotReadableError' || name === 'OverconstrainedError' ? 'audio-capture'
        : 'start-failed';
      this._emit('error', { code });
      this._finish(s);
      return;
    }
    if (this.session !== s || s.stopped) {
      release();
      this._finish(s);
      return;
    }
    const mime = pickMimeType();
    const options = { audioBitsPerSecond: RECORD_BPS, ...(mime ? { mimeType: mime } : {}) };
    try {
      s.rec = new MediaRecorder(s.stream, options);
    } catch {
      try {
        s.rec = new MediaRecorder(s.stream);
      } catch {
        release();
        this._emit('error', { code: 'start-failed' });
        this._finish(s);
        return;
      }
    }
    s.rec.ondataavailable = (e) => {
      if (!e.data?.size) return;
      s.chunks.push(e.data);
      s.size += e.data.size;
      // A backstop for a bitrate above the one asked for: the length cap normally comes first.
      if (s.size > maxBytes * 0.9) s.stop('size');
    };
    s.rec.onerror = () => {
      if (!s.aborted) this._emit('error', { code: 'start-failed' });
      s.aborted = true;
    };
    s.rec.onstop = () => {
      release();
      if (!s.aborted) {
        const type = s.rec.mimeType || mime || s.chunks[0]?.type || 'audio/webm';
        const blob = new Blob(s.chunks, { type });
        if (blob.size < 1000 || Date.now() - s.t0 < 400) this._emit('error', { code: 'no-speech' });
        else this._emit('audio', { blob, reason: s.reason });
      }
      this._finish(s);
    };
    s.t0 = Date.now();
    try {
      // Small slices so the size backstop above reacts within a quarter of a second.
      s.rec.start(250);
    } catch {
      release();
      this._emit('error', { code: 'start-failed' });
      this._finish(s);
      return;
    }
    const limitMs = recordLimitMs(maxBytes, maxMs, s.rec.audioBitsPerSecond);
    s.timer = setTimeout(() => s.stop('max'), limitMs);
    s.meter = openMeter(s.stream);
    const eos = new EndOfSpeech();
    // A timer, not requestAnimationFrame: detection must go on in a background tab too.
    s.tick = setInterval(() => {
      if (this.session !== s || s.stopped) return;
      const elapsedMs = Date.now() - s.t0;
      const rms = s.meter ? s.meter.read() : NaN;
      const ended = s.meter ? eos.update(rms, elapsedMs) : false;
      this._emit('level', { level: s.meter ? displayLevel(rms) : null, elapsedMs, maxMs: limitMs, heard: eos.heard });
      if (ended) s.stop('silence');
    }, TICK_MS);
    this._emit('start', { kind: 'record', maxMs: limitMs });
  }
}
