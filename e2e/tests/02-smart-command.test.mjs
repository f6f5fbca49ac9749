// 2. A smart command is answered by a rule (no model call) with a link card; nothing navigates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, typeCommand, waitReply, sleep } from '../lib/app.mjs';

const URL_EXPECTED = 'https://www.youtube.com/results?search_query=despacito';

test('"play despacito on youtube" shows a YouTube search link card and does not navigate away', async (t) => {
  await scenario(t, {}, async ({ page, server, fake, browser }) => {
    await openApp(page, server.url);
    const before = page.url();

    await typeCommand(page, 'play despacito on youtube');
    const reply = await waitReply(page, { status: 'complete' });
    assert.equal(await reply.getAttribute('data-source'), 'rule', 'answered by a built-in rule');

    const card = reply.getByTestId('action-card');
    await card.waitFor();
    assert.equal(await card.getAttribute('data-action'), 'open_url');
    const link = card.locator('a');
    assert.equal(await link.count(), 1);
    assert.equal(await link.getAttribute('href'), URL_EXPECTED);
    assert.equal(await link.getAttribute('target'), '_blank');
    const rel = (await link.getAttribute('rel')) || '';
    assert.ok(rel.split(/\s+/).includes('noopener'), `rel has noopener: "${rel}"`);
    assert.ok(await link.isVisible(), 'the link is visible');

    // The page tried to open the link in a new tab (intercepted: there is no network).
    const opened = await page.evaluate(() => window.__e2e.opened);
    assert.deepEqual(opened.map((o) => [o.url, o.target]), [[URL_EXPECTED, '_blank']], 'window.open was called once for the result');

    await sleep(300);
    assert.equal(page.url(), before, 'the page did not navigate');
    assert.equal(browser.context.pages().length, 1, 'no other tab was opened');
    assert.equal((await fake.stats()).requests, 0, 'a smart command does not call the model');
  });
});
