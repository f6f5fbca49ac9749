// 12. "New conversation" can be undone, and past conversations are listed (newest first),
//     searchable and reopenable; a reopened conversation continues where it left off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, ask, transcript } from '../lib/app.mjs';

const texts = async (page) => (await transcript(page)).map((m) => m.text);

test('new conversation offers Undo, which brings the previous one back', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal(await ask(page, 'what is 12 times 12'), '144');

    await page.getByTestId('new-conversation').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 0);
    const toast = page.getByTestId('notice').filter({ hasText: 'Started a new conversation.' });
    await toast.waitFor();
    const reopened = page.waitForResponse((r) => /\/api\/conversations\/\d+\/reopen$/.test(r.url()));
    await toast.getByTestId('notice-action').click();
    assert.equal((await reopened).status(), 200);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 2);
    assert.deepEqual(await texts(page), ['what is 12 times 12', '144']);
    assert.equal(await toast.count(), 0, 'the toast goes away');

    // The undo is real: it survives a reload, and the calculator continues from 144.
    await reloadApp(page);
    assert.deepEqual(await texts(page), ['what is 12 times 12', '144']);
    assert.equal(await ask(page, 'times 2'), '288');
  });
});

test('the history view lists past conversations newest first, searches them and reopens one', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal(await ask(page, 'what is 12 times 12'), '144');
    await page.getByTestId('new-conversation').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 0);
    assert.equal(await ask(page, 'what is 5 plus 5'), '10');
    await page.getByTestId('new-conversation').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 0);
    assert.equal(await ask(page, 'what is 1 plus 1'), '2');

    await page.getByTestId('history-button').click();
    const panel = page.getByTestId('history-panel');
    await panel.waitFor();
    const items = page.getByTestId('history-item');
    await items.nth(2).waitFor();
    const titles = await items.locator('.history-title').allTextContents();
    assert.deepEqual(titles, ['what is 1 plus 1', 'what is 5 plus 5', 'what is 12 times 12'], 'newest first');
    assert.equal(await items.first().getAttribute('data-open'), 'true', 'the open conversation is marked');
    assert.match(await items.first().textContent(), /Current/);

    await page.getByTestId('history-search').fill('12 times');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-item"]').length === 1);
    assert.deepEqual(await items.locator('.history-title').allTextContents(), ['what is 12 times 12']);
    await page.getByTestId('history-search').fill('no such words');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-item"]').length === 0);
    assert.match(await page.getByTestId('history-status').textContent(), /No conversation mentions/);

    await page.getByTestId('history-search').fill('12');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-item"]').length === 1);
    await items.first().getByRole('button').click();
    await panel.waitFor({ state: 'hidden' });
    await page.waitForFunction(() => document.querySelector('[data-testid="message"] .text')?.textContent === 'what is 12 times 12');
    assert.deepEqual(await texts(page), ['what is 12 times 12', '144'], 'the reopened conversation is on screen');
    assert.equal(await ask(page, 'times 2'), '288', 'and it continues where it left off');

    await reloadApp(page);
    assert.deepEqual(await texts(page), ['what is 12 times 12', '144', 'times 2', '288']);
  });
});
