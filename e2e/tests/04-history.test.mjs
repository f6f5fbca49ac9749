// 4. The conversation is restored after a reload; "new conversation" clears it for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, ask, transcript, pageFetch, sleep } from '../lib/app.mjs';

const REPLY = 'Ravens can learn to imitate human speech. They also plan ahead.';

test('history survives a reload, and a new conversation stays empty after reload', async (t) => {
  await scenario(t, { fake: { ttftMs: 50, chunkDelayMs: 40, chunks: 4, reply: REPLY } }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.deepEqual(await transcript(page), [], 'a new visitor starts with an empty log');
    assert.ok(await page.locator('#empty').isVisible(), 'the welcome text is shown');

    assert.equal(await ask(page, 'what is 12 times 12'), '144');
    assert.equal(await ask(page, 'Tell me a fact about ravens'), REPLY);
    const expected = [
      { role: 'user', status: 'complete', text: 'what is 12 times 12' },
      { role: 'assistant', status: 'complete', text: '144' },
      { role: 'user', status: 'complete', text: 'Tell me a fact about ravens' },
      { role: 'assistant', status: 'complete', text: REPLY },
    ];
    assert.deepEqual(await transcript(page), expected);

    await reloadApp(page);
    assert.deepEqual(await transcript(page), expected, 'both exchanges are restored, in order');
    const sources = await page.$$eval('[data-testid="message"][data-role="assistant"]', (els) => els.map((e) => e.dataset.source));
    assert.deepEqual(sources, ['rule', 'gemini'], 'reply sources are restored');
    assert.ok(await page.locator('#empty').isHidden(), 'the welcome text is hidden when there is history');

    // A new conversation clears the view...
    const cleared = page.waitForResponse((r) => r.url().endsWith('/api/conversation') && r.request().method() === 'DELETE');
    await page.getByTestId('new-conversation').click();
    assert.equal((await cleared).status(), 200);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 0, null, { timeout: 5000 });
    assert.ok(await page.locator('#empty').isVisible(), 'the welcome text is back');

    // ...and stays empty after a reload.
    await reloadApp(page);
    await sleep(200);
    assert.deepEqual(await transcript(page), [], 'nothing is restored after "new conversation"');
    const api = await pageFetch(page, '/api/conversation');
    assert.equal(api.status, 200);
    assert.deepEqual(api.body.messages, []);

    // The old exchange is kept in /api/history, and the next command starts a fresh log.
    const history = await pageFetch(page, '/api/history/me');
    assert.deepEqual(history.body.history.map((h) => [h.command, h.result]),
      [['Tell me a fact about ravens', REPLY], ['what is 12 times 12', '144']], 'history keeps past commands, newest first');
    assert.equal(await ask(page, 'what is 1 plus 1'), '2');
    assert.equal((await transcript(page)).length, 2);
  });
});
