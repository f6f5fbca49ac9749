// Plays the model's voice in Live mode: 24 kHz mono PCM16 little-endian chunks, as they arrive
// from the socket, through a small jitter buffer.
//
// Every chunk becomes one AudioBufferSourceNode scheduled back to back on the AudioContext's
// clock (`nextTime`), so chunks play gaplessly whatever the arrival jitter, as long as the
// queue has not run dry. When it has (the first chunk of a reply, or a network stall longer
// than what is queued), playback restarts LEAD_S in the future: that lead is the jitter
// buffer, enough to absorb the spacing of a few 20–40 ms frames without adding noticeable
// delay. The AudioBuffers are created at 24 kHz and the context resamples them to its own rate.
//
// stop() (the user talked over the model: `interrupted`) fades the current chain out over a
// few milliseconds (a hard cut clicks) and stops every queued and playing source at once; new
// chunks go through a fresh gain node, so the fade never touches them.
//
// Events: 'change' (playing flipped).

export const PLAYBACK_RATE = 24_000;
/** The jitter buffer: how far ahead of "now" playback (re)starts. */
export const LEAD_S = 0.1;
/** The fade on stop(); sources are stopped just after it, well inside 100 ms. */
const FADE_S = 0.012;

/** PCM16 LE bytes to float samples in [-1, 1). */
export function decodePcm16(bytes) {
  const view = new DataView(bytes instanceof ArrayBuffer ? bytes : bytes.buffer, bytes.byteOffset || 0, bytes.byteLength);
  const n = view.byteLength >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 0x8000;
  return out;
}

export class PcmPlayer extends EventTarget {
  /** ctx: the AudioContext (shared with capture); destination: where to play (default ctx.destination). */
  constructor(ctx, destination = ctx.destination) {
    super();
    this.ctx = ctx;
    // The analyser sits after every gain chain so the orb can follow the model's voice.
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 512;
    this.analyser.connect(destination);
    this._levelBuf = new Float32Array(this.analyser.fftSize);
    this._gain = null;
    this.sources = new Set();
    this.nextTime = 0;
    /** Counters for the test hooks and diagnostics. */
    this.stats = { chunks: 0, samples: 0, underruns: 0, stops: 0, stoppedSources: 0, lastStopAt: null };
  }

  get playing() {
    return this.sources.size > 0;
  }

  /** Seconds of audio queued ahead of the context's clock. */
  get buffered() {
    return Math.max(0, this.nextTime - this.ctx.currentTime);
  }

  /** Queue one chunk (ArrayBuffer or typed array of PCM16 LE at 24 kHz). */
  enqueue(bytes) {
    const samples = decodePcm16(bytes);
    if (!samples.length || this.ctx.state === 'closed') return;
    const buffer = this.ctx.createBuffer(1, samples.length, PLAYBACK_RATE);
    buffer.copyToChannel(samples, 0);
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this._chain());
    const now = this.ctx.currentTime;
    if (this.nextTime < now + 0.005) {
      // Ran dry (or first chunk): start again with the lead. Counted as an underrun only
      // mid-reply, i.e. while something was still playing a moment ago.
      if (this.sources.size > 0) this.stats.underruns++;
      this.nextTime = now + LEAD_S;
    }
    const wasPlaying = this.playing;
    this.sources.add(src);
    src.onended = () => {
      src.disconnect();
      if (this.sources.delete(src) && !this.playing) this._emit();
    };
    src.start(this.nextTime);
    this.nextTime += buffer.duration;
    this.stats.chunks++;
    this.stats.samples += samples.length;
    if (!wasPlaying) this._emit();
  }

  /** Stop everything queued and playing, now (a short fade, then stop). */
  stop() {
    const had = this.sources.size;
    const now = this.ctx.currentTime;
    if (this._gain) {
      const g = this._gain.gain;
      try {
        g.cancelScheduledValues(now);
        g.setValueAtTime(g.value, now);
        g.linearRampToValueAtTime(0, now + FADE_S);
      } catch { /* a closed context */ }
      const old = this._gain;
      this._gain = null;
      setTimeout(() => old.disconnect(), (FADE_S + 0.05) * 1000);
    }
    for (const src of this.sources) {
      src.onended = null;
      try { src.stop(now + FADE_S); } catch { /* never started */ }
    }
    this.sources.clear();
    this.nextTime = 0;
    this.stats.stops++;
    this.stats.stoppedSources += had;
    this.stats.lastStopAt = now;
    if (had) this._emit();
  }

  /** The output level now, 0..1 (RMS over the analyser's window). */
  level() {
    if (!this.playing) return 0;
    this.analyser.getFloatTimeDomainData(this._levelBuf);
    let sum = 0;
    for (const v of this._levelBuf) sum += v * v;
    return Math.sqrt(sum / this._levelBuf.length);
  }

  close() {
    this.stop();
    try { this.analyser.disconnect(); } catch { /* gone */ }
  }

  _chain() {
    if (!this._gain) {
      this._gain = this.ctx.createGain();
      this._gain.connect(this.analyser);
    }
    return this._gain;
  }

  _emit() {
    this.dispatchEvent(new Event('change'));
  }
}
