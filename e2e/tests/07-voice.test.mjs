// 7. The voice path with a SpeechRecognition stub and a recording speechSynthesis stub
//    (lib/stubs.mjs): tap the orb, "say" something, see it sent, hear the reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, lastBubble, waitReply, pageFetch, until } from '../lib/app.mjs';

/** Record the interim line, the orb states and when the newest reply completed. */
async function watchPage(page) {
  await page.evaluate(() => {
    const rec = { interim: [], orb: [], completedAt: null };
    window.__watch = rec;
    const interim = document.querySelector('[data-testid="interim"]');
    new MutationObserver(() => {
      const t = interim.textContent;
      if (t && rec.interim.at(-1) !== t) rec.interim.push(t);
    }).observe(interim, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => {
      const s = document.body.dataset.orbState;
      if (rec.orb.at(-1) !== s) rec.orb.push(s);
    }).observe(document.body, { attributes: true, attributeFilter: ['data-orb-state'] });
    const log = document.querySelector('[data-testid="chat-log"]');
    new MutationObserver(() => {
      const b = [...log.querySelectorAll('[data-role="assistant"]')].pop();
      if (b?.dataset.status === 'complete' && rec.completedAt == null) rec.completedAt = performance.now();
    }).observe(log, { subtree: true, attributes: true, attributeFilter: ['data-status'], childList: true });
  });
}

test('voice: a recognised maths question is sent, answered "15" and spoken', async (t) => {
  await scenario(t, {
    browser: { recognition: { mode: 'say', transcript: 'what is 5 plus 10', interim: 'what is 5' } },
  }, async ({ page, server, fake }) => {
    await openApp(page, server.url);
    await watchPage(page);

    await page.getByTestId('orb').click();

    const reply = await waitReply(page, { status: 'complete', timeout: 10_000 });
    assert.equal(await lastBubble(page, 'user').locator('.text').textContent(), 'what is 5 plus 10', 'the user bubble shows the transcript');
    assert.equal(await reply.locator('.text').textContent(), '15');

    const utterances = await until('the reply to be spoken', async () => {
      const u = await page.evaluate(() => window.__e2e.utterances);
      return u.length ? u : null;
    }, { timeoutMs: 5000 });
    assert.deepEqual(utterances.map((u) => u.text), ['15'], 'speechSynthesis got exactly "15"');
    assert.equal(utterances[0].rate, 1, 'default speed (175 wpm) is rate 1');
    assert.ok((await page.evaluate(() => window.__ballsy.state.spoken)).includes('15'));

    const watch = await page.evaluate(() => window.__watch);
    assert.ok(watch.interim.includes('what is 5'), `the interim transcript was shown: ${JSON.stringify(watch.interim)}`);
    assert.ok(watch.orb.includes('listening'), `the orb showed "listening": ${watch.orb.join(' → ')}`);
    await page.waitForFunction(() => document.body.dataset.orbState === 'idle', null, { timeout: 5000 });
    assert.equal(await page.getByTestId('interim').textContent(), '', 'the interim line is cleared');

    const recognitions = await page.evaluate(() => window.__e2e.recognitions);
    assert.equal(recognitions.length, 1, 'one recognition session');
    assert.equal(recognitions[0].started, 1);
    assert.equal(recognitions[0].interimResults, true, 'interim results were requested');
    assert.ok(/^[a-z]{2}(-[A-Z]{2})?$/.test(recognitions[0].lang), `recognition language set: ${recognitions[0].lang}`);

    const frames = await page.evaluate(() => window.__ballsy.sentFrames);
    assert.ok(frames.some((f) => f.command === 'what is 5 plus 10'), 'the transcript was sent as a command');
    assert.equal((await fake.stats()).requests, 0, 'maths does not call the model');
  });
});

const MOON = "The Moon is Earth's only natural satellite. It is about 384,000 kilometres away! "
  + 'Its gravity causes the tides? Astronauts first walked on it in 1969.';
const MOON_SENTENCES = ["The Moon is Earth's only natural satellite.", 'It is about 384,000 kilometres away!',
  'Its gravity causes the tides?', 'Astronauts first walked on it in 1969.'];

test('voice: a multi-sentence model reply is spoken sentence by sentence, starting while it streams', async (t) => {
  await scenario(t, {
    fake: { ttftMs: 100, chunkDelayMs: 200, chunks: 8, reply: MOON },
    browser: { recognition: { mode: 'say', transcript: 'tell me about the moon' } },
  }, async ({ page, server, fake }) => {
    await openApp(page, server.url);
    // A faster voice, saved on the server, applies to the utterances.
    const put = await pageFetch(page, '/api/settings/me', { method: 'PUT', json: { voice_speed: 350 } });
    assert.equal(put.status, 200);
    await reloadApp(page);
    await watchPage(page);

    await page.getByTestId('mic-button').click();
    const reply = await waitReply(page, { status: 'complete', timeout: 15_000 });
    assert.equal(await lastBubble(page, 'user').locator('.text').textContent(), 'tell me about the moon');
    assert.equal(await reply.locator('.text').textContent(), MOON);
    assert.ok(JSON.stringify((await fake.requests())[0].body).includes('tell me about the moon'));

    const utterances = await until('every sentence to be spoken', async () => {
      const u = await page.evaluate(() => window.__e2e.utterances);
      return u.length >= MOON_SENTENCES.length ? u : null;
    }, { timeoutMs: 5000 });
    assert.deepEqual(utterances.map((u) => u.text), MOON_SENTENCES, 'one utterance per sentence, in order');
    assert.ok(utterances.every((u) => u.rate === 2), `350 wpm is rate 2: ${utterances.map((u) => u.rate)}`);

    const { completedAt } = await page.evaluate(() => window.__watch);
    assert.ok(completedAt != null);
    assert.ok(utterances[0].t < completedAt,
      `the first sentence was spoken before the reply completed (${utterances[0].t.toFixed(0)} < ${completedAt.toFixed(0)} ms)`);
  });
});
