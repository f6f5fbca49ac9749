// 5. The server restarts (SIGTERM, then a new process on the same port and database) while the
//    page is open: the page reconnects by itself, and a command typed while the server was down
//    is not silently lost.
//
// What the page promises (web/app.js deliver/sendHttp/fail, web/js/ui.js CONN_TITLES): while the
// socket is down a command goes over HTTP ("messages are still sent"); if the server cannot be
// reached at all, the reply bubble turns "failed" with a message and a Retry button, and Retry
// delivers the same command once the server is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { scenario, openApp, reloadApp, ask, typeCommand, transcript, waitReply, waitConnected, until } from '../lib/app.mjs';
import { startServer, tempDir, removeDir } from '../lib/procs.mjs';

test('after a server restart the page reconnects, Retry delivers the command typed during the outage, and history is intact', async (t) => {
  const dir = tempDir();
  const db = join(dir, 'ballsy.db');
  await scenario(t, { server: { dir, db } }, async ({ page, server, fake, browser, defer }) => {
    defer(() => removeDir(dir));
    await openApp(page, server.url);
    assert.equal(await ask(page, 'what is 2 plus 2'), '4');

    await page.evaluate(() => {
      window.__closes = [];
      window.__states = [];
      window.__ballsy.socket.addEventListener('close', (e) => window.__closes.push(e.detail.code));
      window.__ballsy.socket.addEventListener('state', (e) => window.__states.push(e.detail.state));
    });

    // While the server is down the browser itself logs failed connections; those (only) are
    // expected during the outage.
    const endOutage = browser.tolerate(/net::ERR_CONNECTION_REFUSED/);

    const t0 = Date.now();
    const exit = await server.stop({ signal: 'SIGTERM' });
    assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: the server exits 0');
    assert.ok(Date.now() - t0 < 5000, `an idle server stops promptly (${Date.now() - t0} ms)`);
    assert.ok(server.lines.some((l) => l.includes('"close_code":1001')), 'the server logged closing the socket with 1001');

    await until('the page to see the socket close with 1001', () => page.evaluate(() => window.__closes.includes(1001)));
    // While down (between reconnect attempts) the pill and the status line both say so.
    await page.waitForFunction(() => {
      const pill = document.querySelector('[data-testid="connection-indicator"]');
      return pill.dataset.state === 'disconnected' && pill.textContent.trim() === 'Reconnecting…'
        && /Reconnecting to Ballsy/.test(document.querySelector('[data-testid="status-line"]').textContent);
    }, null, { timeout: 5000 });

    // A command typed while the server is down.
    await typeCommand(page, 'what is 6 times 7');
    const failed = await waitReply(page, { status: 'failed', timeout: 10_000 });
    assert.match(await failed.locator('.text').textContent(), /reach Ballsy/i, 'the bubble says the server could not be reached');
    const retry = failed.getByRole('button', { name: 'Retry' });
    assert.ok(await retry.isVisible(), 'a Retry button is offered');
    assert.equal(await page.locator('[data-testid="message"][data-role="user"]').last().locator('.text').textContent(), 'what is 6 times 7',
      'the typed command stays on screen');

    // A new server process on the same port with the same database.
    const server2 = await startServer({ fake, db, port: server.port, name: 'ballsy-restarted' });
    defer(() => server2.stop());
    assert.equal(server2.port, server.port);
    await waitConnected(page, 25_000); // on its own, no user action
    const states = await page.evaluate(() => window.__states);
    assert.ok(states.includes('disconnected') && states.at(-1) === 'connected', `indicator went down and back: ${states.join(' → ')}`);
    endOutage();
    if (process.env.E2E_DEBUG) console.log("tolerated during the outage:", JSON.stringify(browser.tolerated, null, 1));

    await retry.click();
    const retried = await waitReply(page, { status: 'complete', timeout: 10_000 });
    assert.equal(await retried.locator('.text').textContent(), '42', 'Retry delivered the command typed during the outage');

    assert.equal(await ask(page, 'what is 10 minus 3'), '7', 'a new command is answered');
    const frames = await page.evaluate(() => window.__ballsy.sentFrames);
    assert.ok(frames.some((f) => f.command === 'what is 10 minus 3'), 'the new command went over the new socket');

    // Same database, same identity cookie: everything is there after a reload.
    await reloadApp(page);
    assert.deepEqual((await transcript(page)).map((m) => m.text),
      ['what is 2 plus 2', '4', 'what is 6 times 7', '42', 'what is 10 minus 3', '7']);
  });
});

// When a restart cuts a reply that is still streaming (it outlives the drain deadline,
// SHUTDOWN_GRACE_SECS - 1.5 s), the server ends it with a `shutting_down` error frame carrying
// the command's id and stores it as failed, so the page offers Retry instead of "Stopped".
test('a reply cut by a server restart is not shown as stopped by the user', async (t) => {
  const LONG = Array.from({ length: 20 }, (_, i) => `Sentence ${i + 1} here.`).join(' ');
  await scenario(t, {
    fake: { ttftMs: 100, chunkDelayMs: 300, chunks: 20, reply: LONG },
    server: { env: { SHUTDOWN_GRACE_SECS: '2' } },
  }, async ({ page, server, browser }) => {
    await openApp(page, server.url);
    browser.tolerate(/net::ERR_CONNECTION_REFUSED/);
    await typeCommand(page, 'Tell me a long story');
    await page.waitForFunction(() => window.__ballsy.state.deltaCount >= 2, null, { timeout: 10_000 });
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
    const bubble = page.locator('[data-testid="message"][data-role="assistant"]').last();
    await bubble.and(page.locator(':not([data-status="streaming"])')).waitFor({ timeout: 5000 });
    assert.equal(await bubble.getAttribute('data-status'), 'failed', 'the cut reply is marked failed');
    assert.ok(await bubble.getByRole('button', { name: 'Retry' }).isVisible(), 'and can be retried');
  });
});
