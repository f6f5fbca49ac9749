// Speech input. Two paths:
//  - 'speech': the Web Speech API (SpeechRecognition / webkitSpeechRecognition), interim
//    results on, one utterance per start(). Handlers are attached both as on* properties
//    and with addEventListener (when present); each event object is handled once, so real
//    browsers and simple stubs that only call this.onresult(...) both work.
//  - 'record': MediaRecorder (Firefox): record until stop() (or a time/size cap), then
//    hand the Blob back for upload to /api/voice.
//
// Events: 'start', 'interim' {text}, 'final' {text}, 'audio' {blob}, 'error' {code}, 'end'
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
    const onStart = () => this._emit('start');
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
    const s = { kind: 'record', rec: null, stream: null, chunks: [], size: 0, aborted: false, stopped: false, t0: 0 };
    this.session = s;
    s.stop = () => {
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
    const release = () => s.stream?.getTracks().forEach((t) => t.stop());

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
    try {
      s.rec = new MediaRecorder(s.stream, mime ? { mimeType: mime } : undefined);
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
      if (s.size > maxBytes * 0.9) s.stop();
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
        else this._emit('audio', { blob });
      }
      this._finish(s);
    };
    s.t0 = Date.now();
    try {
      s.rec.start(1000);
    } catch {
      release();
      this._emit('error', { code: 'start-failed' });
      this._finish(s);
      return;
    }
    s.timer = setTimeout(() => s.stop(), maxMs);
    this._emit('start');
  }
}
