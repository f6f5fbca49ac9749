// 13. A failed AI turn: the bubble says what happened once (no toast, nothing in the status
//     line), is scrolled into view with its Retry clear of the orb, offers the web search as a
//     card without opening a tab, and Retry asks again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, lastBubble, waitReply } from '../lib/app.mjs';

const REPLY = 'Otters are playful.';

test('a failed reply is shown once, in view, with Retry and a search card', async (t) => {
  await scenario(t, {
    fake: { ttftMs: 30, chunkDelayMs: 20, chunks: 2, reply: REPLY },
    browser: { viewport: { width: 390, height: 700 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  }, async ({ page, server, fake }) => {
    await openApp(page, server.url);
    for (let i = 1; i <= 6; i++) assert.equal(await ask(page, `what is ${i} plus ${i}`), String(2 * i));

    // The model answers nothing (after a pause, on every retry): the turn fails.
    await fake.config({ ttft_ms: 400 });
    await page.getByTestId('text-input').fill('[[fake:empty]] tell me about otters');
    await page.getByTestId('text-input').press('Enter');
    await page.waitForFunction(() => window.__ballsy.state.pending === 1);
    // The person scrolls up to re-read while it is pending.
    await page.evaluate(() => { document.querySelector('[data-testid="chat-log"]').scrollTop = 0; });
    assert.equal(await lastBubble(page, 'assistant').getAttribute('data-status'), 'streaming', 'scrolled up before the failure');

    const failed = await waitReply(page, { status: 'failed', timeout: 30_000 });
    const message = await failed.locator('.text').textContent();
    assert.match(message, /web search/);
    assert.equal(await failed.getAttribute('data-source'), 'fallback');
    assert.match(await failed.locator('.meta').textContent(), /Not answered/);

    // In view, and Retry can be hit where it is drawn (nothing, the orb included, covers it).
    const retry = failed.getByTestId('retry');
    await page.waitForTimeout(400); // smooth scrolling, if any, settles
    const geometry = await retry.evaluate((button) => {
      const r = button.getBoundingClientRect();
      const log = document.querySelector('[data-testid="chat-log"]').getBoundingClientRect();
      const orb = document.querySelector('[data-testid="orb"]').getBoundingClientRect();
      const x = r.left + r.width / 2;
      const y = r.top + r.height / 2;
      const overlaps = !(r.right <= orb.left || r.left >= orb.right || r.bottom <= orb.top || r.top >= orb.bottom);
      return { inLog: r.top >= log.top && r.bottom <= log.bottom, hit: document.elementFromPoint(x, y) === button, overlaps };
    });
    assert.deepEqual(geometry, { inLog: true, hit: true, overlaps: false }, 'Retry is in view and not under the orb');

    // Said once.
    assert.equal(await page.getByTestId('notice').count(), 0, 'no toast repeats the error');
    assert.doesNotMatch(await page.getByTestId('status-line').textContent(), /search|couldn|answer/i, 'the status line does not repeat it');

    // The search is a card with a link; no tab was opened by itself.
    const card = failed.getByTestId('action-card');
    assert.equal(await card.getAttribute('data-action'), 'search');
    assert.match(await card.locator('a').getAttribute('href'), /^https:\/\/www\.google\.com\/search\?q=/);
    assert.deepEqual(await page.evaluate(() => window.__e2e.opened), [], 'a failed AI call never opens a tab');

    await fake.config({ ttft_ms: 30 });
    // Retry sends the same words; the fake's directive would fail again, so answer normally now.
    await fake.fault({ kind: 'finish', reason: 'STOP', text: REPLY });
    await retry.click();
    const retried = await waitReply(page, { status: 'complete' });
    assert.equal(await retried.locator('.text').textContent(), REPLY, 'Retry asked again in the same bubble');
    assert.equal(await page.locator('[data-testid="message"][data-role="assistant"]').count(), 7);
  });
});
