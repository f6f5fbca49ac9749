// 6. Barge-in: clicking the orb while a reply streams stops it, in the page, on the server and
//    upstream (the server drops its request to the model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, typeCommand, lastBubble, ask, pageFetch, until, sleep } from '../lib/app.mjs';

const LONG = Array.from({ length: 30 }, (_, i) => `Sentence number ${i + 1} of a very long answer.`).join(' ');

test('clicking the orb while a reply streams sends cancel, marks it interrupted and drops the upstream stream', async (t) => {
  await scenario(t, {
    fake: { ttftMs: 100, chunkDelayMs: 300, chunks: 30, reply: LONG },
    browser: { recognition: { mode: 'silent' } },
  }, async ({ page, server, fake }) => {
    await openApp(page, server.url);
    // Typed turns are silent by default; this one is read aloud so barge-in has speech to stop.
    assert.equal((await pageFetch(page, '/api/settings/me', { method: 'PUT', json: { speak_replies: 'always' } })).status, 200);
    await reloadApp(page);

    await typeCommand(page, 'Tell me a very long story');
    await page.waitForFunction(() => window.__ballsy.state.deltaCount >= 1, null, { timeout: 10_000 });
    const bubble = lastBubble(page, 'assistant');
    assert.equal(await bubble.getAttribute('data-status'), 'streaming');
    const orb = await page.evaluate(() => document.body.dataset.orbState);
    assert.ok(['thinking', 'speaking'].includes(orb), `the orb is busy while the reply streams (${orb})`);

    // Click while a sentence is being spoken (the stub speaks each for a fraction of the gap
    // between chunks), in the page so no round trip lets the utterance end first.
    await page.evaluate(() => new Promise((resolve) => {
      const poll = setInterval(() => {
        if (!window.__ballsy.state.speaking) return;
        clearInterval(poll);
        document.querySelector('[data-testid="orb"]').click();
        resolve();
      }, 5);
    }));

    const frames = await page.evaluate(() => window.__ballsy.sentFrames);
    assert.ok(frames.some((f) => f.type === 'cancel' && Object.keys(f).length === 1), `a {"type":"cancel"} frame was sent: ${JSON.stringify(frames)}`);
    await bubble.and(page.locator('[data-status="interrupted"]')).waitFor({ timeout: 3000 });
    assert.match(await bubble.locator('.meta').textContent(), /Stopped/);

    // The orb click also starts listening (barge-in is "stop and talk").
    await page.waitForFunction(() => document.body.dataset.orbState === 'listening', null, { timeout: 3000 });

    const stats = await until('the fake to count a dropped stream', async () => {
      const s = await fake.stats();
      return s.dropped_streams >= 1 ? s : null;
    }, { timeoutMs: 10_000 });
    assert.equal(stats.completed_streams, 0, 'the upstream stream did not run to its end');

    // Nothing more arrives in the stopped bubble.
    const text = await bubble.locator('.text').textContent();
    assert.ok(text.length > 0 && text.length < LONG.length && LONG.startsWith(text), 'the bubble keeps the part that arrived');
    await sleep(1000);
    assert.equal(await bubble.locator('.text').textContent(), text, 'the bubble stopped growing');
    assert.equal(await bubble.getAttribute('data-status'), 'interrupted');

    // Speech stopped too (the stub's cancel was called) and the server stored the reply as interrupted.
    assert.ok(await page.evaluate(() => (window.__e2e.cancels || 0) >= 1), 'speechSynthesis.cancel() was called');
    const conv = await until('the interrupted reply to be stored', async () => {
      const c = await pageFetch(page, '/api/conversation');
      const last = c.body.messages.at(-1);
      return last?.role === 'assistant' && last.status === 'interrupted' ? c : null;
    }, { timeoutMs: 5000 });
    assert.ok(LONG.startsWith(conv.body.messages.at(-1).content), 'what was said so far is stored');

    // Escape ends listening; the next question is answered normally.
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.body.dataset.orbState === 'idle', null, { timeout: 3000 });
    await fake.config({ reply: 'Short answer.', chunk_delay_ms: 20, chunks: 2 });
    assert.equal(await ask(page, 'Now a short one please'), 'Short answer.');
  });
});
