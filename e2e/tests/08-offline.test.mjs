// 8. Without GEMINI_API_KEY the server runs in offline mode: the page says "Commands only" in
//    words for users (how to enable the AI is for the operator, in the logs and
//    GET /api/session, never on the page), no toast covers the screen, smart commands still
//    work, and open questions get the server's offline answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, lastBubble, pageFetch, sleep } from '../lib/app.mjs';

test('offline mode: a "Commands only" badge, no toast, no operator hint, and commands still work', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    assert.match(server.info.message, /offline|without/i, `the start-up line mentions offline mode: ${server.info.message}`);
    await openApp(page, server.url);

    const badge = page.getByTestId('offline-badge');
    await badge.waitFor({ state: 'visible' });
    assert.equal(await badge.textContent(), 'Commands only');
    assert.doesNotMatch(await badge.getAttribute('title'), /GEMINI|API|key|restart/i, 'the badge explains itself to users');
    assert.equal(await page.evaluate(() => window.__ballsy.state.mode), 'offline');

    // The operator hint is available to the operator...
    const session = await pageFetch(page, '/api/session');
    assert.match(JSON.stringify(session.body), /GEMINI_API_KEY/, 'GET /api/session carries the operator hint');

    const answer = await ask(page, 'Why is the sky blue?');
    assert.match(answer, /Open questions aren't available on this server/);
    assert.equal(await lastBubble(page, 'assistant').getAttribute('data-source'), 'offline');
    assert.equal(await lastBubble(page, 'assistant').locator('.meta').textContent(), 'Commands only');
    const deltas = await page.evaluate(() => window.__ballsy.state.deltaCount);
    assert.ok(deltas >= 2, `the offline answer is streamed too (${deltas} deltas)`);
    assert.equal(await ask(page, 'what is 7 times 6'), '42', 'smart commands work offline');
    await sleep(300);

    // ...but nothing on the page shows it, and no toast was put over the conversation.
    assert.equal(await page.getByTestId('notice').count(), 0, 'no toast in offline mode');
    const everything = await page.evaluate(() => document.body.innerText + ' '
      + [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].map((a) => a.value)).join(' '));
    assert.doesNotMatch(everything, /GEMINI_API_KEY|restart me/i, 'no operator hint anywhere on the page');
    const spoken = await page.evaluate(() => window.__e2e.utterances.map((u) => u.text));
    assert.deepEqual(spoken, [], 'typed questions are not read aloud');
    assert.ok(await badge.isVisible(), 'the badge stays');
  });
});

// Every welcome chip is a smart command (including "What is 15% of 240?", which the calculator
// answers), so a first-time visitor gets answers even in offline mode.
test('offline mode: every welcome chip is answered by a built-in command', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    const chips = await page.$$eval('[data-command]', (els) => els.map((e) => e.dataset.command));
    assert.ok(chips.length >= 3, 'the welcome shows suggestion chips');
    for (const [i, command] of chips.entries()) {
      await page.locator(`[data-command="${command}"]`).click();
      const reply = page.locator('[data-testid="message"][data-role="assistant"]').first();
      await reply.and(page.locator('[data-status="complete"]')).waitFor({ timeout: 10_000 });
      assert.equal(await reply.getAttribute('data-source'), 'rule',
        `chip "${command}" is built in; got "${await reply.locator('.text').textContent()}"`);
      if (i < chips.length - 1) {
        // The chips live in the welcome block, which hides once there are messages.
        await page.getByTestId('new-conversation').click();
        await page.locator('#empty').waitFor({ state: 'visible' });
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="message"]').length === 0);
      }
    }
  });
});
