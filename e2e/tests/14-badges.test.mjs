// 14. Each way a reply can end has its own label: a stream cut mid-way is "Interrupted" with
//     Retry, a safety refusal is "Refused" (not "AI unavailable"), a MAX_TOKENS stop is "Cut
//     short"; the labels come back after a reload. Only a command the user gave opens a tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, typeCommand, waitReply, lastBubble, bubbles } from '../lib/app.mjs';

const REPLY = 'Otters hold hands while they sleep. They also keep a favourite stone. Sea otters are the densest furred animals.';

test('cut off, refused and cut-short replies are labelled as such; cut off offers Retry', async (t) => {
  await scenario(t, { fake: { ttftMs: 30, chunkDelayMs: 60, chunks: 6, reply: REPLY } }, async ({ page, server, fake }) => {
    await openApp(page, server.url);

    await fake.fault({ kind: 'error_in_stream', after_chunks: 2 });
    await typeCommand(page, 'tell me about otters');
    const cut = await waitReply(page, { status: 'cut_off' });
    assert.equal(await cut.getAttribute('data-source'), 'gemini');
    assert.match(await cut.locator('.meta').textContent(), /Interrupted/);
    assert.doesNotMatch(await cut.locator('.meta').textContent(), /AI unavailable/);
    assert.ok(await cut.getByTestId('retry').isVisible(), 'a cut-off reply offers Retry');

    await typeCommand(page, '[[fake:blocked]] something edgy');
    const refused = await waitReply(page, { status: 'refused' });
    const refusedMeta = await refused.locator('.meta').textContent();
    assert.match(refusedMeta, /Refused/);
    assert.doesNotMatch(refusedMeta, /AI unavailable/);
    assert.equal(await refused.getByTestId('retry').count(), 0, 'asking the same again would be refused again');

    await fake.fault({ kind: 'finish', reason: 'MAX_TOKENS', text: 'The capital of France is Paris. It is known for' });
    await typeCommand(page, 'tell me about Paris');
    const short = await waitReply(page, { status: 'truncated' });
    assert.match(await short.locator('.meta').textContent(), /Cut short/);
    assert.match(await short.locator('.text').textContent(), /^The capital of France is Paris\./);

    // The labels are the stored statuses: a reload shows the same.
    await reloadApp(page);
    const statuses = await bubbles(page, 'assistant').evaluateAll((els) => els.map((e) => e.dataset.status));
    assert.deepEqual(statuses, ['cut_off', 'refused', 'truncated']);
    assert.ok(await bubbles(page, 'assistant').first().getByTestId('retry').isVisible(), 'a restored cut-off reply can be retried');

    // Retry on the cut-off reply asks the same question again, in place.
    await bubbles(page, 'assistant').first().getByTestId('retry').click();
    await bubbles(page, 'assistant').first().and(page.locator('[data-status="complete"]')).waitFor({ timeout: 10_000 });
    assert.equal(await bubbles(page, 'assistant').first().locator('.text').textContent(), REPLY);
  });
});

test('a built-in "open" command opens a tab; a failed AI call only shows the search card', async (t) => {
  await scenario(t, { fake: { ttftMs: 30, chunkDelayMs: 20, chunks: 2 } }, async ({ page, server, fake }) => {
    await openApp(page, server.url);
    await typeCommand(page, 'open github');
    const opened = await waitReply(page, { status: 'complete' });
    assert.equal(await opened.getAttribute('data-source'), 'rule');
    const tabs = await page.evaluate(() => window.__e2e.opened.map((o) => o.url));
    assert.equal(tabs.length, 1, `the command the user gave opened its site: ${JSON.stringify(tabs)}`);

    await fake.fault([{ kind: 'status', code: 400 }]);
    await typeCommand(page, 'who wrote the odyssey');
    const failed = await waitReply(page, { status: 'failed' });
    assert.equal(await failed.getAttribute('data-source'), 'fallback');
    assert.equal(await failed.getByTestId('action-card').getAttribute('data-action'), 'search');
    assert.equal((await page.evaluate(() => window.__e2e.opened)).length, 1, 'no second tab for the failed call');
    assert.equal(await lastBubble(page, 'assistant').getByTestId('retry').count(), 1);
  });
});
