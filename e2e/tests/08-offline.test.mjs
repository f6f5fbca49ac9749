// 8. Without GEMINI_API_KEY the server runs in offline mode: the page says so, smart commands
//    still work, and open questions get the offline answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, lastBubble } from '../lib/app.mjs';

// src/ai/offline.rs OFFLINE_ANSWER: what a user hears, without the operator's hint.
const OFFLINE_ANSWER = "Open questions aren't available on this server, but I can do commands right now. "
  + 'Try "play lofi on YouTube", "directions to the airport", "what\'s 15% of 240" or "what time is it". '
  + 'Say "help" to hear everything I can do.';

test('offline mode: badge visible, open questions get the offline answer, smart commands work', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    assert.match(server.info.message, /offline|without/i, `the start-up line mentions offline mode: ${server.info.message}`);
    await openApp(page, server.url);

    const badge = page.getByTestId('offline-badge');
    await badge.waitFor({ state: 'visible' });
    assert.equal(await badge.textContent(), 'Offline mode');
    assert.equal(await page.evaluate(() => window.__ballsy.state.mode), 'offline');
    const hint = page.getByTestId('notice').filter({ hasText: 'Offline mode' });
    assert.equal(await hint.count(), 1, 'a one-time hint explains offline mode');
    assert.equal(await hint.getAttribute('data-tone'), 'warn');

    const answer = await ask(page, 'Why is the sky blue?');
    assert.equal(answer, OFFLINE_ANSWER);
    assert.equal(await lastBubble(page, 'assistant').getAttribute('data-source'), 'offline');
    const deltas = await page.evaluate(() => window.__ballsy.state.deltaCount);
    assert.ok(deltas >= 2, `the offline answer is streamed too (${deltas} deltas)`);

    assert.equal(await ask(page, 'what is 7 times 6'), '42', 'smart commands work offline');
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
