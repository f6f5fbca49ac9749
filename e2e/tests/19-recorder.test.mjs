// 19. The recorder path: a browser without SpeechRecognition (removed by an init script, as in
//     Firefox) records with MediaRecorder and uploads to /api/voice. Chromium's fake media
//     stream plays a WAV made here with espeak-ng and sox (silence, a spoken question,
//     silence) as the microphone. The page must show a level meter and the time against the
//     length cap, stop by itself after a pause in speech and at the cap (a tap still stops
//     it), say before the first recording that the audio goes to Google, and, on a server
//     without Gemini, not invite a recording at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { scenario, openApp, reloadApp, lastBubble, waitReply, until, sleep, ask } from '../lib/app.mjs';
import { assertAccessible } from '../lib/axe.mjs';
import { tempDir, removeDir } from '../lib/procs.mjs';

const QUESTION = 'what is 5 plus 10';

/**
 * A 48 kHz mono WAV: `lead` s of digital silence, espeak-ng saying `text`, `tail` s of silence.
 * Chromium loops the file, so the tail also sets how soon the speech comes round again.
 */
function speechWav(dir, name, { text = 'what is five plus ten', lead = 1, tail = 12 } = {}) {
  const spoken = join(dir, `${name}-speech.wav`);
  const out = join(dir, `${name}.wav`);
  execFileSync('espeak-ng', ['-w', spoken, text]);
  // `pad` adds silence before and after; `rate` resamples to the rate the fake device uses.
  execFileSync('sox', [spoken, '-r', '48000', '-c', '1', '-b', '16', out, 'pad', String(lead), String(tail)]);
  return out;
}

const fakeMic = (wav) => [
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${wav}`,
];

/** Record what the recorder view shows, with page times, into window.__rec. */
async function watchRecorder(page) {
  await page.evaluate(() => {
    const rec = { levels: [], timers: [], orbLevels: [], states: [], t0: null };
    window.__rec = rec;
    const box = document.querySelector('[data-testid="recorder"]');
    const meter = document.querySelector('[data-testid="record-meter"]');
    const timer = document.querySelector('[data-testid="record-timer"]');
    const orb = document.querySelector('[data-testid="orb"]');
    new MutationObserver(() => {
      rec.states.push({ state: box.dataset.state, reason: box.dataset.stopReason ?? null, t: performance.now() });
    }).observe(box, { attributes: true, attributeFilter: ['data-state', 'data-stop-reason'] });
    new MutationObserver(() => {
      rec.levels.push({ v: Number(meter.getAttribute('aria-valuenow')), t: performance.now() });
    }).observe(meter, { attributes: true, attributeFilter: ['aria-valuenow'] });
    new MutationObserver(() => {
      if (rec.timers.at(-1) !== timer.textContent) rec.timers.push(timer.textContent);
    }).observe(timer, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => {
      const v = orb.style.getPropertyValue('--level');
      if (v) rec.orbLevels.push(Number(v));
    }).observe(orb, { attributes: true, attributeFilter: ['style'] });
  });
}

/** Resolves with {at, size} for the next POST /api/voice (at: Date.now() when it was sent). */
function nextUpload(page, timeout = 20_000) {
  return page.waitForRequest((r) => new URL(r.url()).pathname === '/api/voice' && r.method() === 'POST', { timeout })
    .then((r) => ({ at: Date.now(), size: r.postDataBuffer()?.length ?? 0, request: r }));
}

test('recorder: level meter and timer while recording, sent by itself after a pause, answered', async (t) => {
  const dir = tempDir('ballsy-wav-');
  t.after(() => removeDir(dir));
  // 1 s before the question (the calibration sees silence), 12 s after it.
  const wav = speechWav(dir, 'question', { lead: 1, tail: 12 });
  await scenario(t, { browser: { recognition: false, args: fakeMic(wav) } }, async ({ page, server, fake }) => {
    await fake.config({ transcript: QUESTION });
    await openApp(page, server.url);
    assert.equal(await page.evaluate(() => 'SpeechRecognition' in window || 'webkitSpeechRecognition' in window), false,
      'the init script removed speech recognition');

    // Before the first recording: one line at the orb says where the audio goes.
    const notice = page.getByTestId('voice-notice');
    await notice.waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await notice.textContent(), /sent to Google to be transcribed/);
    assert.equal(await page.getByTestId('orb').getAttribute('aria-label'), 'Tap to talk', 'the orb invites a recording');
    assert.equal(await page.getByTestId('recorder').isVisible(), false, 'no meter before recording');
    await assertAccessible(page, 'the recorder path with its notice');

    await watchRecorder(page);
    const upload = nextUpload(page);
    const tappedAt = Date.now();
    await page.getByTestId('orb').click();

    await page.locator('[data-testid="recorder"][data-state="recording"]').waitFor({ timeout: 5000 });
    assert.match(await page.getByTestId('record-timer').textContent(), /^0:0\d \/ 0:30$/,
      'the time is shown against the 30 s cap (MAX_UPLOAD_BYTES, 2 MiB by default, allows more)');
    assert.equal(await page.getByTestId('record-meter').getAttribute('aria-label'), 'Microphone level');
    assert.ok(await notice.isVisible(), 'the notice stays while the first recording is made');
    await until('the level meter to rise with the speech', () => page.evaluate(() => window.__rec.levels.some((l) => l.v >= 40)), { timeoutMs: 8000 });
    await assertAccessible(page, 'the page while recording');

    // Nobody taps again: the recording ends ~1.5 s after the question does.
    const sent = await upload;
    const seconds = (sent.at - tappedAt) / 1000;
    // 1 s of silence, ~1.6 s of speech, 1.5 s of silence: about 4 s; the cap would be 30 s.
    assert.ok(seconds > 3 && seconds < 9, `sent ${seconds.toFixed(1)} s after the tap, after the pause`);
    const rec = await page.evaluate(() => window.__rec);
    assert.equal(rec.states.filter((s) => s.reason).at(-1)?.reason, 'silence', `stopped by the end of speech: ${JSON.stringify(rec.states)}`);
    const loud = rec.levels.filter((l) => l.v >= 40);
    const lastLoud = loud.at(-1).t;
    const stoppedAt = rec.states.find((s) => s.reason === 'silence').t;
    const after = (stoppedAt - lastLoud) / 1000;
    assert.ok(after >= 1.2 && after < 3, `stopped ${after.toFixed(2)} s after the last loud moment`);
    assert.equal(rec.levels.at(-1).v, 0, 'the meter fell back with the silence (the file has digital silence)');
    for (const want of ['0:00 / 0:30', '0:01 / 0:30', '0:02 / 0:30', '0:03 / 0:30']) {
      assert.ok(rec.timers.includes(want), `the timer showed ${want}: ${JSON.stringify(rec.timers)}`);
    }
    assert.ok(Math.max(...rec.orbLevels) >= 0.4, `the orb followed the level: max ${Math.max(...rec.orbLevels)}`);

    const reply = await waitReply(page, { status: 'complete', timeout: 15_000 });
    assert.equal(await reply.locator('.text').textContent(), '15');
    assert.equal(await lastBubble(page, 'user').locator('.text').textContent(), QUESTION);
    await page.getByTestId('recorder').waitFor({ state: 'hidden' });
    const audio = (await fake.requests()).filter((r) => JSON.stringify(r.body).includes('inlineData'));
    assert.equal(audio.length, 1, 'one recording went to the model');
    assert.match(JSON.stringify(audio[0].body), /audio\/webm/, 'as webm (Opus)');

    // The notice is remembered once acknowledged, not before.
    assert.ok(await notice.isVisible(), 'a recording alone does not acknowledge the notice');
    await page.getByTestId('voice-notice-ok').click();
    await notice.waitFor({ state: 'hidden' });
    await reloadApp(page);
    await sleep(200);
    assert.equal(await notice.isVisible(), false, 'acknowledged: not shown again after a reload');
  });
});

test('recorder: continuous speech is not cut, a tap stops it, and the upload cap sets the length', async (t) => {
  const dir = tempDir('ballsy-wav-');
  t.after(() => removeDir(dir));
  // The question over and over with 0.5 s gaps (the file loops): never a 1.5 s pause.
  const wav = speechWav(dir, 'chatter', { lead: 0.2, tail: 0.3 });
  // 40000 bytes at the 32 kb/s the page asks for, 80 % of it used: an 8 s cap.
  await scenario(t, {
    server: { env: { MAX_UPLOAD_BYTES: '40000' } },
    browser: { recognition: false, args: fakeMic(wav) },
  }, async ({ page, server, fake }) => {
    await fake.config({ transcript: QUESTION });
    await openApp(page, server.url);
    await watchRecorder(page);

    // A tap stops it.
    let upload = nextUpload(page);
    await page.getByTestId('orb').click();
    await page.locator('[data-testid="recorder"][data-state="recording"]').waitFor({ timeout: 5000 });
    assert.equal(await page.getByTestId('record-timer').textContent(), '0:00 / 0:08', 'the cap follows MAX_UPLOAD_BYTES');
    await sleep(3500);
    assert.equal(await page.getByTestId('recorder').getAttribute('data-state'), 'recording', 'gaps between words do not end it');
    assert.match(await page.getByTestId('record-timer').textContent(), /^0:0[3-4] \/ 0:08$/);
    await page.getByTestId('orb').click();
    let sent = await upload;
    assert.equal(await page.getByTestId('recorder').getAttribute('data-stop-reason'), 'tap');
    assert.equal(await (await waitReply(page, { timeout: 15_000 })).locator('.text').textContent(), '15');

    // Left alone, it stops at the cap, and what it sends fits the server's limit.
    upload = nextUpload(page);
    const tappedAt = Date.now();
    await page.getByTestId('orb').click();
    sent = await upload;
    const seconds = (sent.at - tappedAt) / 1000;
    assert.ok(seconds >= 7.5 && seconds < 12, `sent ${seconds.toFixed(1)} s after the tap (8 s cap)`);
    assert.equal(await page.getByTestId('recorder').getAttribute('data-stop-reason'), 'max');
    const response = await sent.request.response();
    assert.equal(response.status(), 200, `the server took it (${sent.size} bytes of multipart for a 40000-byte limit)`);
    const timers = await page.evaluate(() => window.__rec.timers);
    assert.ok(timers.includes('0:07 / 0:08'), `the timer counted up to the cap: ${JSON.stringify(timers)}`);
    await waitReply(page, { timeout: 15_000 });
    assert.equal((await fake.requests()).filter((r) => JSON.stringify(r.body).includes('inlineData')).length, 2);
  });
});

test('recorder on an offline server: the orb offers typing before any tap and records nothing', async (t) => {
  const dir = tempDir('ballsy-wav-');
  t.after(() => removeDir(dir));
  const wav = speechWav(dir, 'question');
  await scenario(t, { fake: false, browser: { recognition: false, args: fakeMic(wav) } }, async ({ page, server }) => {
    const uploads = [];
    page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/voice') uploads.push(r.url()); });
    await openApp(page, server.url);

    // Said before anyone taps: at the orb, on the mic button and in the status line.
    const orb = page.getByTestId('orb');
    await until('the orb to say voice is off', async () => (await orb.getAttribute('aria-label')) !== 'Tap to talk', { timeoutMs: 5000 });
    assert.equal(await orb.getAttribute('aria-label'), 'Voice needs the online assistant. Type instead');
    assert.equal(await page.getByTestId('mic-button').getAttribute('aria-label'), 'Voice needs the online assistant. Type instead');
    assert.match(await page.getByTestId('status-line').textContent(), /Voice needs the online assistant.*Type your command below/);
    assert.equal(await page.evaluate(() => document.body.dataset.voice), 'off');
    assert.equal(await page.getByTestId('voice-notice').isVisible(), false, 'nothing will go to Google: no notice');
    await assertAccessible(page, 'the recorder path on an offline server');

    // A tap takes the person to the message box; no recording, no error, no toast.
    await orb.click();
    await sleep(500);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'text-input');
    assert.equal(await page.evaluate(() => window.__e2e.getUserMedia), 0, 'the microphone was not opened');
    assert.equal(await page.getByTestId('recorder').isVisible(), false);
    assert.notEqual(await page.evaluate(() => document.body.dataset.orbState), 'error');
    assert.equal(await page.getByTestId('notice').count(), 0, 'no toast');
    assert.deepEqual(uploads, [], 'nothing uploaded');
    await page.keyboard.press('Space'); // typed into the box, not a shortcut to record
    assert.equal(await page.evaluate(() => window.__e2e.getUserMedia), 0);

    await page.getByTestId('text-input').fill('');
    assert.equal(await ask(page, 'what is 2 plus 2'), '4', 'typing works');
  });
});
