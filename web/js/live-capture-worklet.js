// AudioWorklet module for Live voice capture: takes the microphone at whatever rate the
// AudioContext runs (44.1 kHz, 48 kHz, Firefox's device rate, a phone's 16 kHz…), resamples it
// to 16 kHz mono, and posts 20 ms chunks of PCM16 little-endian to the main thread together
// with the chunk's RMS level (for the orb).
//
// It is a file under web/ because the page's CSP allows scripts from 'self' only (no blob:
// or data: worklet modules). It is also importable as a plain ES module (the exported
// Resampler and encodePcm16 are unit-tested in Node by e2e/tests/10-live-resampler.test.mjs);
// the processor is registered only inside an AudioWorkletGlobalScope.

export const TARGET_RATE = 16_000;
/** 20 ms at 16 kHz: inside the 20–40 ms the relay asks for, and small enough for low latency. */
export const CHUNK_SAMPLES = 320;

// Kernel size: 8 zero crossings of the sinc on each side, with a Blackman window, gives about
// 70 dB of stop-band rejection, plenty for speech going to a recogniser.
const ZERO_CROSSINGS = 8;
// The fractional position of an output sample between two input samples is rounded to one of
// PHASES kernels computed up front (a polyphase filter), so the audio thread does a plain dot
// product per sample and never calls Math.sin. 256 phases put the timing error under 1/512 of
// an input sample: below -55 dB for the speech band.
const PHASES = 256;

/**
 * Windowed-sinc sample-rate converter for one channel, streaming (keeps the tail it still needs
 * between calls). Down-sampling low-passes at 0.9 of the target Nyquist frequency so that
 * 8–24 kHz content of a 48 kHz microphone does not fold back into the speech band; up-sampling
 * (an 8 kHz headset) is plain band-limited interpolation.
 */
export class Resampler {
  constructor(inRate, outRate = TARGET_RATE) {
    if (!(inRate > 0) || !(outRate > 0)) throw new RangeError('sample rates must be positive');
    this.inRate = inRate;
    this.outRate = outRate;
    this.step = inRate / outRate; // input samples per output sample
    this.passthrough = inRate === outRate;
    // Cut-off as a fraction of the input Nyquist frequency. Up-sampling (an 8 kHz headset) has
    // no aliasing to fear, only the input's own band to keep: a cut-off closer to its Nyquist
    // frequency and a longer kernel (cheap at such rates) keep a narrow-band voice's 3 kHz.
    const up = outRate > inRate;
    const cutoff = up ? 0.95 : (outRate / inRate) * 0.9;
    const crossings = up ? 2 * ZERO_CROSSINGS : ZERO_CROSSINGS;
    // Half-width of the kernel in input samples; taps run from centre-half+1 to centre+half.
    this.half = Math.ceil(crossings / cutoff);
    this.taps = 2 * this.half;
    this.kernels = buildKernels(this.half, cutoff, crossings);
    // History of input samples; `pos` is the position (in input samples, relative to buf[0])
    // of the next output sample. The first output sits on the first input sample, with `half`
    // samples of silence before it.
    this.buf = new Float32Array(4096);
    this.len = this.half;
    this.pos = this.half;
    this.out = new Float32Array(256);
  }

  /**
   * Feed input samples; returns the output samples that are now complete, as a view that stays
   * valid until the next call (the audio thread should not allocate per render quantum).
   */
  push(input) {
    if (this.passthrough) return input;
    this._append(input);
    const most = Math.ceil((this.len - this.pos) / this.step) + 1;
    if (this.out.length < most) this.out = new Float32Array(most);
    const { out, buf, kernels, taps, half } = this;
    let produced = 0;
    while (this.pos + half + 1 < this.len) {
      let centre = Math.floor(this.pos);
      let phase = Math.round((this.pos - centre) * PHASES);
      if (phase === PHASES) {
        centre++;
        phase = 0;
      }
      const k0 = phase * taps;
      const b0 = centre - half + 1;
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += buf[b0 + j] * kernels[k0 + j];
      out[produced++] = acc;
      this.pos += this.step;
    }
    // Drop what no future output needs.
    const keepFrom = Math.max(0, Math.floor(this.pos) - half);
    if (keepFrom > 0) {
      buf.copyWithin(0, keepFrom, this.len);
      this.len -= keepFrom;
      this.pos -= keepFrom;
    }
    return out.subarray(0, produced);
  }

  _append(input) {
    if (this.len + input.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
  }
}

/**
 * PHASES kernels of 2·half taps: for an output sample `frac` (= phase / PHASES) past input
 * sample c, tap j weighs input sample c-half+1+j by the low-pass impulse response at that
 * distance: cutoff·sinc(cutoff·d)·Blackman(cutoff·d / crossings).
 */
function buildKernels(half, cutoff, crossings) {
  const taps = 2 * half;
  const k = new Float32Array(PHASES * taps);
  for (let p = 0; p < PHASES; p++) {
    const frac = p / PHASES;
    for (let j = 0; j < taps; j++) {
      const x = Math.abs((j - half + 1 - frac) * cutoff); // in zero crossings
      if (x >= crossings) continue;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = 0.5 + 0.5 * (x / crossings); // 0.5 at the centre, 1 at the edge
      const blackman = 0.42 - 0.5 * Math.cos(2 * Math.PI * r) + 0.08 * Math.cos(4 * Math.PI * r);
      k[p * taps + j] = cutoff * sinc * blackman;
    }
  }
  return k;
}

/** Float samples in [-1, 1] to PCM16 little-endian bytes (clipped, rounded). */
export function encodePcm16(samples) {
  const bytes = new ArrayBuffer(samples.length * 2);
  const view = new DataView(bytes);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
  }
  return bytes;
}

/** Root mean square of a block, 0..1. */
export function rms(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

if (typeof registerProcessor === 'function' && typeof AudioWorkletProcessor === 'function') {
  class CaptureProcessor extends AudioWorkletProcessor {
    constructor() {
      super();
      // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
      this.resampler = new Resampler(sampleRate, TARGET_RATE);
      this.pending = new Float32Array(CHUNK_SAMPLES);
      this.filled = 0;
      this.muted = false;
      this.mono = new Float32Array(128);
      this.port.onmessage = ({ data }) => {
        if (data && typeof data.muted === 'boolean') {
          this.muted = data.muted;
          this.filled = 0;
        }
      };
    }

    process(inputs) {
      const channels = inputs[0];
      if (!channels || channels.length === 0 || this.muted) return true;
      // Down-mix to mono (getUserMedia may give a stereo track).
      const n = channels[0].length;
      let mono = channels[0];
      if (channels.length > 1) {
        if (this.mono.length !== n) this.mono = new Float32Array(n);
        mono = this.mono;
        mono.fill(0);
        for (const ch of channels) for (let i = 0; i < n; i++) mono[i] += ch[i] / channels.length;
      }
      const out = this.resampler.push(mono);
      for (let i = 0; i < out.length; i++) {
        this.pending[this.filled++] = out[i];
        if (this.filled === CHUNK_SAMPLES) {
          const pcm = encodePcm16(this.pending);
          this.port.postMessage({ pcm, level: rms(this.pending) }, [pcm]);
          this.filled = 0;
        }
      }
      return true;
    }
  }
  registerProcessor('ballsy-capture', CaptureProcessor);
}
