// 18. axe-core finds no violation on any screen: the empty page, a conversation with Markdown
//     and a link card, settings (with the forget-me confirmation open), past conversations,
//     and a failed turn with its Retry; in light and dark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, waitReply, typeCommand } from '../lib/app.mjs';
import { assertAccessible, axeViolations } from '../lib/axe.mjs';

const REPLY = 'Otters are **very** playful.\n\n- They hold hands\n- They use `stones`\n\nSee https://example.org/otters.';

for (const colorScheme of ['light', 'dark']) {
  test(`axe: every screen has 0 violations (${colorScheme})`, async (t) => {
    await scenario(t, {
      fake: { ttftMs: 30, chunkDelayMs: 20, chunks: 3, reply: REPLY },
      browser: { colorScheme },
    }, async ({ page, server, fake }) => {
      await openApp(page, server.url);
      // Animations finish at once, so axe sees the final colours.
      await page.emulateMedia({ reducedMotion: 'reduce' });
      await assertAccessible(page, 'the empty page');

      await ask(page, 'tell me about otters');
      await typeCommand(page, 'open github');
      await waitReply(page, { status: 'complete' });
      await assertAccessible(page, 'a conversation');

      await fake.fault({ kind: 'status', code: 400 });
      await typeCommand(page, 'who wrote the odyssey');
      await waitReply(page, { status: 'failed' });
      await assertAccessible(page, 'a failed turn');

      await page.getByTestId('mute-toggle').click();
      await assertAccessible(page, 'muted');

      await page.getByTestId('settings-button').click();
      await page.getByTestId('settings-panel').waitFor();
      await assertAccessible(page, 'settings');
      await page.getByTestId('forget-me').click();
      await assertAccessible(page, 'the forget-me confirmation');
      await page.keyboard.press('Escape');

      await page.getByTestId('new-conversation').click();
      await page.getByTestId('notice-action').waitFor();
      await assertAccessible(page, 'the undo toast');

      await page.getByTestId('history-button').click();
      await page.getByTestId('history-item').first().waitFor();
      await assertAccessible(page, 'past conversations');
      await page.getByTestId('history-search').fill('nothing like this');
      await page.getByTestId('history-status').filter({ hasText: 'No conversation' }).waitFor();
      await assertAccessible(page, 'an empty search');
    });
  });
}

// The check itself must be able to fail.
test('axe: the check reports a violation when there is one', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    await page.evaluate(() => {
      const b = document.createElement('button');
      b.dataset.testid = 'unlabelled';
      document.querySelector('.dock').append(b);
    });
    const ids = (await axeViolations(page)).map((v) => v.id);
    assert.ok(ids.includes('button-name'), `an unlabelled button is reported: ${ids}`);
  });
});
