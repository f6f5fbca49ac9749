// 15. The connection state: the pill says "Reconnecting…" (never "Offline", which is the
//     no-AI badge's business) and the status line says what is going on; no toast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, waitConnected, ask } from '../lib/app.mjs';

test('losing the network shows "Reconnecting…" in the pill and the state in the status line', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await openApp(page, server.url);
    const pill = page.getByTestId('connection-indicator').locator('.conn-label');
    const status = page.getByTestId('status-line');
    assert.equal(await pill.textContent(), 'Connected');

    browser.tolerate(/net::ERR_INTERNET_DISCONNECTED/);
    await page.context().setOffline(true);
    await page.waitForSelector('[data-testid="connection-indicator"][data-state="disconnected"]');
    assert.equal(await pill.textContent(), 'Reconnecting…');
    assert.match(await status.textContent(), /offline.*reconnects/i);
    assert.equal(await page.getByTestId('notice').count(), 0, 'no toast for the connection');

    await page.context().setOffline(false);
    await waitConnected(page);
    assert.equal(await pill.textContent(), 'Connected');
    assert.doesNotMatch(await status.textContent(), /offline|reconnect/i, 'the status line is back to its hint');
    assert.equal(await ask(page, 'what is 3 plus 4'), '7');
  });
});
