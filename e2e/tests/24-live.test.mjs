// 11. Live voice in Chromium, end to end: a WAV spoken by espeak-ng is the microphone
//     (--use-file-for-fake-audio-capture), the page streams it through the real relay
//     (/ws/live) to the fake Gemini Live server (bench/src/fake_live.rs), which answers with
//     transcripts and 24 kHz audio. Asserts the fake got the audio, the page played the reply
//     on one clock, showed both transcripts as messages, stopped playback within 100 ms of
//     `interrupted`, and that the Live screen passes axe-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { scenario, openApp, until, bubbles, sleep } from '../lib/app.mjs';
import { startServer, tempDir, removeDir } from '../lib/procs.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const SPOKEN = 'What is the weather like in Paris?';
const ANSWER = ['It is sunny in Paris', ' and twenty degrees.'];
const STORY = 'Once upon a time, in a city far away,';
// 24 kHz: 2400 samples are 100 ms.
const audio = (chunks, samples = 2400) => Array.from({ length: chunks }, () => ({ kind: 'audio', samples }));

const SCRIPT = {
  // Half a second of microphone audio starts each turn.
  audio_bytes_per_turn: 16_000,
  turns: [
    [
      { kind: 'input_transcript', text: 'What is the weather' },
      { kind: 'sleep', ms: 150 },
      { kind: 'input_transcript', text: ' like in Paris?' },
      { kind: 'sleep', ms: 100 },
      { kind: 'output_transcript', text: ANSWER[0] },
      ...audio(8),
      { kind: 'output_transcript', text: ANSWER[1] },
      ...audio(4),
      { kind: 'turn_complete' },
    ],
    [
      // Let the first answer play out before the second turn starts.
      { kind: 'sleep', ms: 2500 },
      { kind: 'input_transcript', text: 'Tell me a story' },
      { kind: 'output_transcript', text: STORY },
      // Four seconds of speech arrive at once (Gemini sends faster than real time)...
      ...audio(40),
      // ...and while the first of it plays, the user talks over the model.
      { kind: 'sleep', ms: 700 },
      { kind: 'interrupted' },
    ],
  ],
};

let dir;
let wav;
before(() => {
  dir = tempDir('ballsy-live-wav-');
  wav = join(dir, 'question.wav');
  // espeak-ng writes 22.05 kHz mono 16-bit PCM: the device rate differs from both 16 kHz and
  // the AudioContext's, so the page's resampler is on the path.
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', wav, SPOKEN]);
  const header = readFileSync(wav).subarray(0, 44);
  assert.equal(header.toString('ascii', 0, 4), 'RIFF');
  assert.equal(header.readUInt16LE(20), 1, 'PCM');
  assert.equal(header.readUInt16LE(34), 16, '16-bit');
});
after(() => removeDir(dir));

const browserOpts = () => ({
  liveAudio: true,
  permissions: ['microphone'],
  args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`,
    '--autoplay-policy=no-user-gesture-required'],
});

const rec = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__audio)));

/** Record the orb state and its --orb-level while it changes. */
async function watchOrb(page) {
  await page.evaluate(() => {
    const w = { maxLevel: { listening: 0, speaking: 0 }, states: [] };
    window.__orbWatch = w;
    const orb = document.querySelector('[data-testid="orb"]');
    const sample = () => {
      const state = document.body.dataset.orbState;
      if (w.states.at(-1) !== state) w.states.push(state);
      const level = Number(orb.style.getPropertyValue('--orb-level')) || 0;
      if (state in w.maxLevel) w.maxLevel[state] = Math.max(w.maxLevel[state], level);
    };
    new MutationObserver(sample).observe(orb, { attributes: true, attributeFilter: ['style'] });
    new MutationObserver(sample).observe(document.body, { attributes: true, attributeFilter: ['data-orb-state'] });
  });
}

test('Live: the spoken question reaches the fake, the reply plays and shows, and an interruption stops it', async (t) => {
  await scenario(t, { live: SCRIPT, browser: browserOpts() }, async ({ page, server, live }) => {
    await openApp(page, server.url);
    const session = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
    assert.equal(session.features.live, true, 'the server says Live is configured');
    const toggle = page.getByTestId('live-switch');
    await toggle.waitFor({ state: 'visible' });
    assert.equal(await toggle.isChecked(), false, 'classic mode is the default');
    assert.equal(await toggle.getAttribute('role'), 'switch');
    await watchOrb(page);

    await toggle.check();
    await page.waitForSelector('body[data-live="ready"]', { timeout: 15_000 });
    assert.match(await page.getByTestId('status-line').textContent(), /Live/);

    // ---- turn 1: the question goes up, the answer comes back ----
    const user = bubbles(page, 'user').first();
    await user.and(page.locator('[data-status="complete"]')).waitFor({ timeout: 15_000 });
    assert.equal(await user.locator('.text').textContent(), SPOKEN, 'the input transcript, grown and settled');
    const reply = bubbles(page, 'assistant').first();
    await reply.and(page.locator('[data-status="complete"]')).waitFor({ timeout: 15_000 });
    assert.equal(await reply.locator('.text').textContent(), ANSWER.join(''), 'the output transcript, streamed in');
    assert.equal(await reply.getAttribute('data-source'), 'live');

    const conns = await live.connections();
    assert.ok(conns.length >= 1, 'the relay connected to the fake');
    assert.ok(conns[0].audio_bytes >= SCRIPT.audio_bytes_per_turn, `the fake received ${conns[0].audio_bytes} bytes of audio`);
    assert.equal(conns[0].audio_mime, 'audio/pcm;rate=16000');
    let r = await rec(page);
    assert.deepEqual(Object.keys(r.sent.sizes), ['640'], `every frame sent is 20 ms of 16 kHz PCM16: ${JSON.stringify(r.sent.sizes)}`);
    assert.ok(r.sent.rms > 0.01, `the frames carry the spoken WAV, not silence (rms ${r.sent.rms.toFixed(4)})`);
    const ready = r.frames.find((f) => f.type === 'live_ready');
    assert.ok(ready && ready.t <= r.sent.firstAt, 'audio went up only after live_ready');

    // The reply played: 12 chunks of 100 ms at 24 kHz, back to back on one clock, after the lead.
    await until('the first reply to finish playing', async () => {
      const x = await rec(page);
      const turn1 = x.sources.filter((s) => s.rate === 24_000).slice(0, 12);
      return turn1.length === 12 && turn1.every((s) => s.endedAt != null) ? x : null;
    }, { timeoutMs: 10_000 });
    r = await rec(page);
    assert.equal(r.contexts.length, 1, 'one AudioContext for capture and playback');
    const played = r.sources.filter((s) => s.rate === 24_000).slice(0, 12);
    for (const s of played) assert.ok(Math.abs(s.duration - 0.1) < 1e-6, 'each source is one 100 ms chunk');
    assert.ok(played[0].when - played[0].ctxAt >= 0.08, `playback starts after the jitter lead (${(played[0].when - played[0].ctxAt).toFixed(3)} s)`);
    for (let i = 1; i < played.length; i++) {
      assert.ok(Math.abs(played[i].when - (played[i - 1].when + played[i - 1].duration)) < 1e-6, `chunk ${i} follows chunk ${i - 1} without a gap`);
    }
    assert.ok(played.every((s) => s.stoppedAt == null), 'nothing of the finished answer was cut');

    const orb = await page.evaluate(() => window.__orbWatch);
    assert.ok(orb.states.includes('listening') && orb.states.includes('speaking'), `the orb listened and spoke: ${orb.states.join(' → ')}`);
    assert.ok(orb.maxLevel.speaking > 0.1, `the orb followed the model's voice (${orb.maxLevel.speaking})`);
    assert.ok(orb.maxLevel.listening > 0.05, `the orb followed the microphone (${orb.maxLevel.listening})`);

    // ---- turn 2: interrupted while four seconds are queued ----
    const interrupted = await until('the interrupted frame', async () => {
      const x = await rec(page);
      return x.frames.find((f) => f.type === 'interrupted') || null;
    }, { timeoutMs: 15_000 });
    await sleep(300);
    r = await rec(page);
    const turn2 = r.sources.filter((s) => s.rate === 24_000).slice(12);
    assert.ok(turn2.length >= 30, `the long answer was queued (${turn2.length} chunks)`);
    const pending = turn2.filter((s) => s.calledAt < interrupted.t && s.when + s.duration > interrupted.ctxTime);
    assert.ok(pending.length >= 25, `most of it was still queued or playing at the interruption (${pending.length})`);
    for (const s of pending) {
      assert.ok(s.stoppedAt != null, 'every queued or playing chunk was stopped');
      assert.ok(s.stoppedAt - interrupted.t < 100, `stopped ${(s.stoppedAt - interrupted.t).toFixed(1)} ms after the frame`);
      assert.ok(s.stopWhen - interrupted.ctxTime < 0.1, `silent ${((s.stopWhen - interrupted.ctxTime) * 1000).toFixed(1)} ms after the frame (context clock)`);
    }
    assert.ok(turn2.every((s) => s.calledAt < interrupted.t), 'nothing was scheduled after the interruption');
    const story = bubbles(page, 'assistant').nth(1);
    await story.and(page.locator('[data-status="interrupted"]')).waitFor({ timeout: 3000 });
    assert.equal(await story.locator('.text').textContent(), STORY);
    assert.equal(await bubbles(page, 'user').nth(1).locator('.text').textContent(), 'Tell me a story');
    await until('the stopped sources to end', async () => {
      const x = await rec(page);
      return x.sources.filter((s) => s.stoppedAt != null).every((s) => s.endedAt != null);
    }, { timeoutMs: 3000 });
    assert.equal(await page.evaluate(() => window.__ballsy.live.playing), false);

    // ---- the Live screen is accessible ----
    await page.evaluate(AXE_SOURCE);
    const axe = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    assert.deepEqual(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], 'axe-core finds nothing on the Live screen');

    // ---- switching off stops the session and goes back to classic ----
    await toggle.uncheck();
    await page.waitForSelector('body[data-live="off"]');
    await until('the relay to close the upstream connection', async () => {
      const c = await live.connections();
      return c.every((x) => x.client_closed || x.closed_with != null);
    }, { timeoutMs: 5000 });
    assert.doesNotMatch(await page.getByTestId('status-line').textContent(), /^Live/, 'the classic hint is back');
  });
});

test('Live: the switch stays hidden when the server has no Live', async (t) => {
  // A Gemini key but no Live minutes: "0 turns Live off for everyone".
  await scenario(t, { browser: browserOpts(), server: { env: { LIVE_DAILY_MINUTES_PER_USER: '0' } } }, async ({ page, server }) => {
    await openApp(page, server.url);
    const session = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
    assert.equal(session.features.live, false);
    assert.equal(await page.getByTestId('live-switch').isVisible(), false);
    assert.equal(await page.evaluate(() => document.body.dataset.live ?? null), null, 'Live never started');
  });
});

test('Live: when the relay cannot keep Gemini Live up, the page falls back to classic mode and says so', async (t) => {
  // Google refuses the server's key (1008 "API key not valid"): no retry can help.
  const failing = { credential: 'a-key-the-server-does-not-have' };
  await scenario(t, { live: failing, browser: browserOpts() }, async ({ page, server }) => {
    await openApp(page, server.url);
    const toggle = page.getByTestId('live-switch');
    await toggle.check();
    const notice = page.getByTestId('notice').filter({ hasText: 'back in classic mode' });
    await notice.waitFor({ timeout: 30_000 });
    await page.waitForSelector('body[data-live="off"]');
    assert.equal(await toggle.isChecked(), false, 'the switch is off again');
    const r = await rec(page);
    const ready = r.frames.find((f) => f.type === 'live_ready');
    assert.ok(r.sent.frames === 0 || (ready && ready.t <= r.sent.firstAt), 'no audio was sent before live_ready');
    // Classic mode works as before.
    await page.getByTestId('text-input').fill('What is 6 times 7?');
    await page.getByTestId('text-input').press('Enter');
    await bubbles(page, 'assistant').last().and(page.locator('[data-status="complete"]')).waitFor();
    assert.equal(await bubbles(page, 'assistant').last().locator('.text').textContent(), '42');
  });
});

test('Live: when Gemini Live drops every connection right after set-up, the page falls back once and stops', async (t) => {
  // Each connection is set up, then closed with 1011: the relay retries four times and gives
  // up with live_unavailable; the page must not start the cycle again by itself.
  const dropping = { on_setup: [{ kind: 'close', code: 1011, reason: 'The service is currently unavailable.' }] };
  await scenario(t, { live: dropping, browser: browserOpts() }, async ({ page, server, live }) => {
    await openApp(page, server.url);
    const toggle = page.getByTestId('live-switch');
    await toggle.check();
    const notice = page.getByTestId('notice').filter({ hasText: 'back in classic mode' });
    await notice.waitFor({ timeout: 30_000 });
    await page.waitForSelector('body[data-live="off"]');
    assert.equal(await toggle.isChecked(), false, 'the switch is off again');
    const relayed = (await live.connections()).length;
    assert.equal(relayed, 5, 'the relay connected once and retried four times');
    // Nothing reconnects afterwards.
    await sleep(5000);
    assert.equal((await live.connections()).length, relayed, 'no connection after the fallback');
    const connects = await page.evaluate(() => window.__ballsy.live?.stats?.connects ?? null);
    assert.equal(connects, 1, 'the page opened the Live socket once');
  });
});

test('Live: when the server restarts the page shows "Reconnecting…" and carries on by itself', async (t) => {
  const db = join(dir, 'restart.db');
  await scenario(t, { live: { audio_bytes_per_turn: 1_000_000_000 }, browser: browserOpts(), server: { db } }, async ({ page, server, live, fake, browser, defer }) => {
    await openApp(page, server.url);
    await page.getByTestId('live-switch').check();
    await page.waitForSelector('body[data-live="ready"]', { timeout: 15_000 });
    await until('audio to reach the fake', async () => (await live.connections())[0]?.audio_bytes > 0);
    await page.evaluate(() => {
      window.__liveStates = [];
      new MutationObserver(() => window.__liveStates.push(document.body.dataset.live))
        .observe(document.body, { attributes: true, attributeFilter: ['data-live'] });
    });

    const endOutage = browser.tolerate(/net::ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/);
    await server.stop({ signal: 'SIGTERM' });
    await page.waitForSelector('body[data-live="reconnecting"]', { timeout: 5000 });
    assert.equal(await page.getByTestId('status-line').textContent(), 'Reconnecting…');
    assert.equal(await page.getByTestId('live-switch').isChecked(), true, 'still in Live mode');

    const again = await startServer({ fake, live, db, port: server.port, name: 'ballsy-live-restarted' });
    defer(() => again.stop());
    await page.waitForSelector('body[data-live="ready"]', { timeout: 20_000 });
    endOutage();
    const states = await page.evaluate(() => window.__liveStates);
    assert.deepEqual([...new Set(states)], ['reconnecting', 'ready'], `reconnecting, then ready: ${states.join(' → ')}`);
    await until('audio to flow through the new server', async () => {
      const c = await live.connections();
      return c.length > 1 && c.at(-1).audio_bytes > 0;
    }, { timeoutMs: 10_000 });
  });
});
