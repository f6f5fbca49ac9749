// 10. Live capture and playback maths, in Node (no browser): the worklet's resampler takes any
//     device rate to 16 kHz without changing the speech band and without folding what lies
//     above 8 kHz back into it; the processor posts 20 ms PCM16 LE chunks; PCM16 round-trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_DIR } from '../lib/procs.mjs';

const WORKLET = pathToFileURL(join(REPO_DIR, 'web/js/live-capture-worklet.js')).href;
const PLAYER = pathToFileURL(join(REPO_DIR, 'web/js/pcm-player.js')).href;
const { Resampler, encodePcm16, TARGET_RATE, CHUNK_SAMPLES } = await import(WORKLET);
const { decodePcm16 } = await import(PLAYER);

const tone = (rate, seconds, parts) => {
  const x = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < x.length; i++) for (const [f, a] of parts) x[i] += a * Math.sin(2 * Math.PI * f * i / rate);
  return x;
};

/** Amplitude of frequency f in x (a single DFT bin over a whole number of periods, roughly). */
function amplitude(x, f, rate) {
  let re = 0;
  let im = 0;
  for (let i = 0; i < x.length; i++) {
    re += x[i] * Math.cos(2 * Math.PI * f * i / rate);
    im += x[i] * Math.sin(2 * Math.PI * f * i / rate);
  }
  return 2 * Math.hypot(re, im) / x.length;
}

/** Push x through r in blocks of the given sizes (cycled), concatenating the output. */
function run(r, x, sizes = [128]) {
  const out = [];
  for (let i = 0, k = 0; i < x.length; k++) {
    const n = sizes[k % sizes.length];
    out.push(...r.push(x.subarray(i, i + n)));
    i += n;
  }
  return Float32Array.from(out);
}

for (const rate of [8000, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000]) {
  test(`resampler ${rate} Hz → 16 kHz keeps 300 Hz and 3 kHz at their level and the length right`, () => {
    const x = tone(rate, 1, [[300, 0.5], [3000, 0.3]]);
    const r = new Resampler(rate);
    const y = run(r, x, [128, 97, 128, 301]);
    // Everything but the filter's look-ahead (half a kernel, in output samples) is out after 1 s.
    const lookahead = rate === TARGET_RATE ? 0 : Math.ceil((r.half + 1) / r.step) + 1;
    assert.ok(y.length <= TARGET_RATE && y.length >= TARGET_RATE - lookahead, `${y.length} samples out of 1 s`);
    assert.ok(lookahead <= 40, `the look-ahead stays under 2.5 ms (${lookahead} samples)`);
    // Skip the first 50 ms (the filter starts from silence) and measure whole 20 ms periods.
    const body = y.subarray(800, 800 + 14_400);
    assert.ok(Math.abs(amplitude(body, 300, TARGET_RATE) - 0.5) < 0.01, `300 Hz: ${amplitude(body, 300, TARGET_RATE)}`);
    assert.ok(Math.abs(amplitude(body, 3000, TARGET_RATE) - 0.3) < 0.01, `3 kHz: ${amplitude(body, 3000, TARGET_RATE)}`);
  });
}

test('resampler filters what the 16 kHz output cannot hold instead of aliasing it', () => {
  // 12 kHz at 48 kHz would fold to 4 kHz, 10 kHz at 44.1 kHz to 6 kHz, without the low-pass.
  for (const [rate, f, alias] of [[48_000, 12_000, 4000], [44_100, 10_000, 6000], [96_000, 20_000, 4000]]) {
    const y = run(new Resampler(rate), tone(rate, 1, [[f, 0.5]])).subarray(800, 800 + 14_400);
    const leak = amplitude(y, alias, TARGET_RATE);
    assert.ok(leak < 0.0025, `${f} Hz at ${rate} Hz leaks ${leak.toFixed(5)} at ${alias} Hz (from 0.5)`);
  }
});

test('resampler output does not depend on how the input is cut into blocks', () => {
  const x = tone(44_100, 0.5, [[440, 0.4], [2500, 0.2]]);
  const whole = run(new Resampler(44_100), x, [x.length]);
  const blocks = run(new Resampler(44_100), x, [128, 7, 1000, 64]);
  assert.equal(blocks.length, whole.length);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(whole[i] - blocks[i]) < 1e-6, `sample ${i}`);
});

test('PCM16 is little-endian, clipped and rounded, and the player decodes it back', () => {
  const bytes = new Uint8Array(encodePcm16(Float32Array.from([0, 1, -1, 0.5, 2, -2, -0.5])));
  assert.deepEqual([...bytes], [0, 0, 0xff, 0x7f, 0x00, 0x80, 0x00, 0x40, 0xff, 0x7f, 0x00, 0x80, 0x00, 0xc0]);
  const back = decodePcm16(bytes.buffer);
  assert.deepEqual([...back].map((v) => Math.round(v * 1000) / 1000), [0, 1, -1, 0.5, 1, -1, -0.5]);
});

test('the capture processor posts 20 ms chunks of 16 kHz PCM16 with their level, at any device rate', async () => {
  for (const rate of [44_100, 48_000]) {
    // An AudioWorkletGlobalScope, as far as the module uses it.
    const posted = [];
    let Processor = null;
    globalThis.sampleRate = rate;
    globalThis.AudioWorkletProcessor = class { constructor() { this.port = { postMessage: (m) => posted.push(m), onmessage: null }; } };
    globalThis.registerProcessor = (name, cls) => { assert.equal(name, 'ballsy-capture'); Processor = cls; };
    await import(`${WORKLET}?scope=${rate}`); // a fresh module instance registers again
    const p = new Processor();
    const x = tone(rate, 1, [[440, 0.25]]);
    for (let i = 0; i + 128 <= x.length; i += 128) {
      // A stereo track: both channels the same, so the mono mix is the signal itself.
      const block = x.subarray(i, i + 128);
      assert.equal(p.process([[block, block]], [[new Float32Array(128)]]), true);
    }
    assert.ok(posted.length >= 49 && posted.length <= 50, `${posted.length} chunks in 1 s at ${rate} Hz`);
    for (const m of posted) {
      assert.equal(m.pcm.byteLength, CHUNK_SAMPLES * 2, 'each chunk is 20 ms of PCM16');
      assert.ok(CHUNK_SAMPLES / TARGET_RATE >= 0.02 && CHUNK_SAMPLES / TARGET_RATE <= 0.04);
    }
    const last = posted.at(-1);
    assert.ok(Math.abs(last.level - 0.25 / Math.SQRT2) < 0.01, `level is the RMS: ${last.level}`);
    assert.ok(Math.abs(amplitude(decodePcm16(last.pcm), 440, TARGET_RATE) - 0.25) < 0.02);
    // Muted: nothing is posted.
    p.port.onmessage({ data: { muted: true } });
    const before = posted.length;
    for (let i = 0; i < 20; i++) p.process([[x.subarray(0, 128)]], []);
    assert.equal(posted.length, before, 'a muted microphone sends nothing');
  }
  delete globalThis.registerProcessor;
  delete globalThis.AudioWorkletProcessor;
  delete globalThis.sampleRate;
});
