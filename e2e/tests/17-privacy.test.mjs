// 17. Settings → "Your conversations": export as JSON and Markdown (downloads with a file
//     name), and "Forget me", which asks first, deletes everything on the server and resets the
//     page to a new visitor's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scenario, openApp, ask, transcript, pageFetch } from '../lib/app.mjs';

async function download(page, testId) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

test('export downloads the conversations as JSON and Markdown', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal(await ask(page, 'what is 12 times 12'), '144');
    await page.getByTestId('settings-button').click();

    const json = await download(page, 'export-json');
    assert.match(json.name, /^ballsy-export-.*\.json$/);
    const data = JSON.parse(json.text);
    const messages = data.conversations.flatMap((c) => c.messages.map((m) => m.content));
    assert.deepEqual(messages, ['what is 12 times 12', '144']);

    const md = await download(page, 'export-md');
    assert.match(md.name, /^ballsy-export-.*\.md$/);
    assert.ok(md.text.includes('what is 12 times 12') && md.text.includes('144'), md.text);
  });
});

test('forget me asks first, then deletes everything and resets the page', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal(await ask(page, 'what is 12 times 12'), '144');
    const put = await pageFetch(page, '/api/settings/me', { method: 'PUT', json: { theme: 'dark' } });
    assert.equal(put.status, 200);
    const userBefore = put.body.settings.user_id;

    await page.getByTestId('settings-button').click();
    await page.getByTestId('forget-me').click();
    const confirm = page.getByTestId('forget-confirm');
    await confirm.waitFor();
    assert.match(await confirm.textContent(), /can't be undone/);

    // Keeping the data is one click and changes nothing.
    await page.getByTestId('forget-cancel').click();
    await confirm.waitFor({ state: 'hidden' });
    assert.equal((await pageFetch(page, '/api/conversations')).body.conversations.length, 1);

    await page.getByTestId('forget-me').click();
    const deleted = page.waitForResponse((r) => r.url().endsWith('/api/me') && r.request().method() === 'DELETE');
    const reloaded = page.waitForEvent('load');
    await page.getByTestId('forget-confirm-button').click();
    assert.equal((await deleted).status(), 204);
    await reloaded;
    await page.waitForFunction(() => window.__ballsy && window.__ballsy.state.mode !== 'unknown');
    await page.waitForSelector('[data-testid="connection-indicator"][data-state="connected"]');

    assert.deepEqual(await transcript(page), [], 'the page starts empty');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.themePref), 'system', 'settings are back to defaults');
    const me = await pageFetch(page, '/api/settings/me');
    assert.notEqual(me.body.settings.user_id, userBefore, 'the page is a new visitor now');
    assert.deepEqual((await pageFetch(page, '/api/conversations')).body.conversations.filter((c) => c.turns > 0), []);
  });
});
