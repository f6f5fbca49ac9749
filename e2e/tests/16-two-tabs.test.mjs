// 16. Two tabs of one user show the same conversation: a turn finished in one appears in the
//     other (turn_synced), so "times 2" typed in the second continues the result it shows;
//     a new conversation or a reopened one in one tab is shown in the other
//     (conversation_changed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, transcript } from '../lib/app.mjs';

const texts = async (page) => (await transcript(page)).map((m) => m.text);
const waitCount = (page, n) => page.waitForFunction((n) => document.querySelectorAll('[data-testid="message"]').length === n, n, { timeout: 10_000 });

test('two tabs stay in step: synced turns, "times 2" across tabs, new conversation and undo', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await openApp(page, server.url);
    const other = await browser.newPage();
    await openApp(other, server.url);
    assert.notEqual(await page.evaluate(() => window.__ballsy.state.clientId), await other.evaluate(() => window.__ballsy.state.clientId), 'each tab has its own socket');

    assert.equal(await ask(page, 'what is 6 times 7'), '42');
    await waitCount(other, 2);
    assert.deepEqual(await texts(other), ['what is 6 times 7', '42'], 'the second tab shows the first tab\'s turn');

    assert.equal(await ask(other, 'times 2'), '84', 'the second tab continues the result it shows');
    await waitCount(page, 4);
    assert.deepEqual(await texts(page), ['what is 6 times 7', '42', 'times 2', '84']);
    assert.equal(await ask(page, 'plus 1'), '85', 'and so does the first');

    // A new conversation in one tab clears the other...
    await other.getByTestId('new-conversation').click();
    await waitCount(other, 0);
    await waitCount(page, 0);
    // ...and its Undo brings it back in both.
    await other.getByTestId('notice-action').click();
    await waitCount(other, 6);
    await waitCount(page, 6);
    assert.deepEqual(await texts(page), await texts(other));
    await other.close();
  });
});
