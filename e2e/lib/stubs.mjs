// Scripts injected into the page before its own (context.addInitScript). Each runs in a fresh
// document, so they are self-contained functions, serialised by Playwright.

/**
 * Always installed:
 *  - window.open is replaced by a recorder (window.__e2e.opened), so an open_url action never
 *    starts a real navigation (the machine has no network);
 *  - securitypolicyviolation events are reported to the test (binding __e2eReport);
 *  - speechSynthesis is replaced by a recorder (window.__e2e.utterances): headless Chromium's
 *    real one depends on the machine's speech-dispatcher and is not deterministic.
 */
export function basePageStubs() {
  const e2e = { opened: [], utterances: [], csp: [] };
  Object.defineProperty(window, '__e2e', { value: e2e, configurable: true });

  const report = (kind, detail) => {
    try { window.__e2eReport?.({ kind, detail }); } catch { /* binding not ready */ }
  };
  document.addEventListener('securitypolicyviolation', (e) => {
    const v = {
      directive: e.violatedDirective, effective: e.effectiveDirective, blocked: e.blockedURI,
      source: e.sourceFile, line: e.lineNumber, sample: e.sample,
    };
    e2e.csp.push(v);
    report('csp', v);
  }, true);

  window.open = function open(url, target, features) {
    e2e.opened.push({ url: String(url), target: target ?? null, features: features ?? null, t: performance.now() });
    return null; // what a blocked popup (or 'noopener') returns
  };

  // ---- speechSynthesis recorder ----
  const synth = new EventTarget();
  const queue = [];
  let current = null;
  let timer = 0;
  const msFor = (u) => Math.max(20, Math.min(400, (u.text || '').length * 4));
  const next = () => {
    current = queue.shift() || null;
    if (!current) return;
    const u = current;
    try { u.dispatchEvent(new Event('start')); } catch { /* ignore */ }
    timer = setTimeout(() => {
      if (current !== u) return;
      current = null;
      try { u.dispatchEvent(new Event('end')); } catch { /* ignore */ }
      next();
    }, msFor(u));
  };
  Object.assign(synth, {
    onvoiceschanged: null,
    paused: false,
    getVoices() { return []; },
    speak(u) {
      e2e.utterances.push({ text: String(u.text), rate: u.rate, lang: u.lang, t: performance.now() });
      queue.push(u);
      if (!current) next();
    },
    cancel() {
      clearTimeout(timer);
      queue.length = 0;
      current = null;
      e2e.cancels = (e2e.cancels || 0) + 1;
    },
    pause() { this.paused = true; },
    resume() { this.paused = false; },
  });
  Object.defineProperty(synth, 'speaking', { get: () => !!current });
  Object.defineProperty(synth, 'pending', { get: () => queue.length > 0 });
  Object.defineProperty(window, 'speechSynthesis', { value: synth, configurable: true, writable: true });
}

/**
 * A SpeechRecognition stand-in (both SpeechRecognition and webkitSpeechRecognition).
 * opts.mode:
 *   'say'    - start() fires onstart, an interim result (opts.interim), a final result
 *              (opts.transcript), then onend; opts.stepMs apart. Each start() takes the next
 *              transcript from opts.transcripts if given.
 *   'silent' - start() fires onstart and then waits; stop()/abort() end it (no result).
 * Every instance is recorded in window.__e2e.recognitions (lang, interimResults, …).
 */
export function speechRecognitionStub(opts) {
  const { mode = 'say', stepMs = 60 } = opts || {};
  const transcripts = [...(opts?.transcripts || (opts?.transcript ? [opts.transcript] : []))];
  const e2e = window.__e2e;
  e2e.recognitions = [];

  const resultList = (items) => {
    const list = items.map(({ transcript, isFinal }) => {
      const alt = { transcript, confidence: 0.9 };
      const r = [alt];
      r.isFinal = isFinal;
      r.item = (i) => r[i];
      return r;
    });
    list.item = (i) => list[i];
    return list;
  };

  class FakeRecognition extends EventTarget {
    constructor() {
      super();
      this.lang = '';
      this.interimResults = false;
      this.continuous = false;
      this.maxAlternatives = 1;
      this.onstart = this.onresult = this.onerror = this.onend = null;
      this._ended = false;
      this._timers = [];
      this.record = { started: 0, stopped: 0, aborted: 0 };
      e2e.recognitions.push(this.record);
    }

    _fire(type, props = {}) {
      if (this._ended && type !== 'end') return;
      const ev = new Event(type);
      Object.assign(ev, props);
      // Real engines call both the on* handler and listeners with the same event object.
      this['on' + type]?.(ev);
      this.dispatchEvent(ev);
    }

    _later(ms, fn) {
      this._timers.push(setTimeout(fn, ms));
    }

    _end() {
      if (this._ended) return;
      this._timers.forEach(clearTimeout);
      this._fire('end');
      this._ended = true;
    }

    start() {
      Object.assign(this.record, {
        started: this.record.started + 1, lang: this.lang,
        interimResults: this.interimResults, continuous: this.continuous,
      });
      this._later(stepMs, () => this._fire('start'));
      if (mode !== 'say') return;
      const text = transcripts.length > 1 ? transcripts.shift() : transcripts[0] || '';
      const words = text.split(' ');
      const interim = opts?.interim ?? words.slice(0, Math.max(1, Math.ceil(words.length / 2))).join(' ');
      this._later(stepMs * 2, () => this._fire('result', {
        resultIndex: 0, results: resultList([{ transcript: interim, isFinal: false }]),
      }));
      this._later(stepMs * 4, () => this._fire('result', {
        resultIndex: 0, results: resultList([{ transcript: text, isFinal: true }]),
      }));
      this._later(stepMs * 5, () => this._end());
    }

    stop() {
      this.record.stopped++;
      this._later(stepMs, () => this._end());
    }

    abort() {
      this.record.aborted++;
      this._later(0, () => {
        this._fire('error', { error: 'aborted', message: '' });
        this._end();
      });
    }
  }
  Object.defineProperty(window, 'SpeechRecognition', { value: FakeRecognition, configurable: true, writable: true });
  Object.defineProperty(window, 'webkitSpeechRecognition', { value: FakeRecognition, configurable: true, writable: true });
}

/**
 * No SpeechRecognition at all, as in Firefox, so the page records with MediaRecorder and
 * uploads to /api/voice. getUserMedia calls are counted in window.__e2e.getUserMedia (the
 * real one still runs: with Chromium's fake media flags it gives the fake device).
 */
export function withoutSpeechRecognition() {
  delete window.SpeechRecognition;
  delete window.webkitSpeechRecognition;
  const e2e = window.__e2e;
  e2e.getUserMedia = 0;
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) return;
  const real = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => {
    e2e.getUserMedia++;
    return real(constraints);
  };
}

/**
 * Records Web Audio use (window.__e2e.audio): every AudioContext created, its state changes,
 * and every OscillatorNode start() with its frequency. The real AudioContext still runs (a
 * headless Chromium plays into a null sink), so the page's code paths are the real ones.
 */
export function audioRecorder() {
  const rec = { contexts: 0, starts: [], states: [] };
  window.__e2e.audio = rec;
  const Real = window.AudioContext;
  if (!Real) return;
  class RecordingAudioContext extends Real {
    constructor(...args) {
      super(...args);
      rec.contexts++;
      rec.states.push(this.state);
      this.addEventListener('statechange', () => rec.states.push(this.state));
      rec.context = this;
    }

    createOscillator() {
      const osc = super.createOscillator();
      const start = osc.start.bind(osc);
      osc.start = (...args) => {
        rec.starts.push({ t: performance.now(), freq: osc.frequency.value, state: this.state });
        return start(...args);
      };
      return osc;
    }
  }
  Object.defineProperty(window, 'AudioContext', { value: RecordingAudioContext, configurable: true, writable: true });
  Object.defineProperty(window, 'webkitAudioContext', { value: RecordingAudioContext, configurable: true, writable: true });
}

/**
 * Records Notification use (window.__e2e.notifications): requestPermission() calls (with the
 * time, so a test can tell "on load" from "after setting a timer") and every notification
 * shown ({title, body, tag}, closed). The permission itself stays the browser's, so tests set
 * it with context.grantPermissions.
 */
export function notificationRecorder() {
  const rec = { asked: [], shown: [] };
  window.__e2e.notifications = rec;
  const Real = window.Notification;
  if (!Real) return;
  class RecordingNotification extends Real {
    constructor(title, options = {}) {
      super(title, options);
      const entry = { title: String(title), body: String(options.body ?? ''), tag: options.tag ?? '', closed: false };
      rec.shown.push(entry);
      const close = this.close.bind(this);
      this.close = () => {
        entry.closed = true;
        close();
      };
    }

    static get permission() {
      return Real.permission;
    }

    static requestPermission(...args) {
      rec.asked.push(performance.now());
      return Real.requestPermission(...args);
    }
  }
  Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true, writable: true });
}

/** Counts navigator.geolocation.getCurrentPosition calls (window.__e2e.geolocationCalls). */
export function geolocationRecorder() {
  window.__e2e.geolocationCalls = 0;
  const geo = navigator.geolocation;
  if (!geo) return;
  const real = geo.getCurrentPosition.bind(geo);
  geo.getCurrentPosition = (...args) => {
    window.__e2e.geolocationCalls++;
    return real(...args);
  };
}

/**
 * Records what Live mode does with audio, underneath the page (window.__audio):
 *  - contexts: every AudioContext made ({sampleRate});
 *  - sources: every AudioBufferSourceNode started ({when, duration, rate, ctxAt, calledAt} and,
 *    once they happen, {stopWhen, stoppedAt, ctxStopAt} and {endedAt}); times named *At are
 *    performance.now(), ctx* the context's clock;
 *  - frames: JSON frames received on the Live socket ({type, t, ctxTime}), binary ones counted
 *    in received; sent: binary frames the page sent ({frames, bytes, sizes, rms, firstAt}).
 */
export function liveAudioRecorder() {
  const rec = { contexts: [], sources: [], frames: [], received: { frames: 0, bytes: 0 }, sent: { frames: 0, bytes: 0, sizes: {}, sumSq: 0, samples: 0, rms: 0 } };
  Object.defineProperty(window, '__audio', { value: rec, configurable: true });
  let lastCtx = null;

  const AC = window.AudioContext;
  window.AudioContext = class RecordedAudioContext extends AC {
    constructor(...args) {
      super(...args);
      lastCtx = this;
      rec.contexts.push({ sampleRate: this.sampleRate, t: performance.now() });
    }
  };

  const proto = AudioBufferSourceNode.prototype;
  const start = proto.start;
  const stop = proto.stop;
  proto.start = function recordedStart(when = 0, ...rest) {
    const entry = {
      when, duration: this.buffer?.duration ?? 0, rate: this.buffer?.sampleRate ?? 0,
      calledAt: performance.now(), ctxAt: this.context.currentTime,
      stopWhen: null, stoppedAt: null, ctxStopAt: null, endedAt: null,
    };
    rec.sources.push(entry);
    Object.defineProperty(this, '__rec', { value: entry });
    this.addEventListener('ended', () => { entry.endedAt = performance.now(); });
    return start.call(this, when, ...rest);
  };
  proto.stop = function recordedStop(when = 0) {
    if (this.__rec && this.__rec.stoppedAt == null) {
      Object.assign(this.__rec, { stopWhen: when, stoppedAt: performance.now(), ctxStopAt: this.context.currentTime });
    }
    return stop.call(this, when);
  };

  const WS = window.WebSocket;
  const send = WS.prototype.send;
  WS.prototype.send = function recordedSend(data) {
    if (this.url.includes('/ws/live/') && data instanceof ArrayBuffer) {
      const s = rec.sent;
      s.firstAt ??= performance.now();
      s.frames++;
      s.bytes += data.byteLength;
      s.sizes[data.byteLength] = (s.sizes[data.byteLength] || 0) + 1;
      const pcm = new DataView(data);
      for (let i = 0; i + 1 < data.byteLength; i += 2) {
        const v = pcm.getInt16(i, true) / 32768;
        s.sumSq += v * v;
        s.samples++;
      }
      s.rms = Math.sqrt(s.sumSq / s.samples);
    }
    return send.call(this, data);
  };
  window.WebSocket = class RecordedWebSocket extends WS {
    constructor(...args) {
      super(...args);
      if (!String(args[0]).includes('/ws/live/')) return;
      // Registered before the page sets onmessage, so it sees each frame first.
      this.addEventListener('message', (ev) => {
        if (typeof ev.data !== 'string') {
          rec.received.frames++;
          rec.received.bytes += ev.data.byteLength ?? ev.data.size;
          return;
        }
        let msg = null;
        try { msg = JSON.parse(ev.data); } catch { /* not JSON */ }
        rec.frames.push({ type: msg?.type, msg, t: performance.now(), ctxTime: lastCtx?.currentTime ?? null });
      });
    }
  };
}
