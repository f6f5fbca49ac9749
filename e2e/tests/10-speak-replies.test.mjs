// 10. When replies are read aloud: by default only turns that began by voice; the "Speak
//     replies" setting (speak_replies: voice | always | never, saved on the server) and the
//     mute toggle by the orb change that. The speechSynthesis stub records every utterance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, waitReply, bubbles, pageFetch, sleep, until } from '../lib/app.mjs';

const spoken = (page) => page.evaluate(() => window.__e2e.utterances.map((u) => u.text));

/** Tap the orb, let the stub "say" the next transcript, wait for the reply to complete. */
async function askByVoice(page) {
  const before = await bubbles(page, 'assistant').count();
  await page.getByTestId('orb').click();
  await bubbles(page, 'assistant').nth(before).and(page.locator('[data-status="complete"]')).waitFor({ timeout: 10_000 });
  return (await bubbles(page, 'assistant').nth(before).locator('.text').textContent()) ?? '';
}

async function chooseSpeakReplies(page, value) {
  await page.getByTestId('settings-button').click();
  await page.getByTestId('setting-speak-replies').selectOption(value);
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/settings/me') && r.request().method() === 'PUT');
  await page.keyboard.press('Escape'); // closing the dialog saves at once
  assert.equal((await saved).status(), 200);
}

test('typed turns are silent and voice turns are spoken by default; "always", "never" and mute', async (t) => {
  await scenario(t, {
    fake: false,
    browser: { recognition: { mode: 'say', transcripts: ['what is 2 plus 3', 'what is 3 plus 3', 'what is 4 plus 3', 'what is 5 plus 3'] } },
  }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal((await pageFetch(page, '/api/settings/me')).body.settings.speak_replies, 'voice', 'the default is "voice turns"');

    assert.equal(await ask(page, 'what is 4 plus 4'), '8');
    await sleep(400);
    assert.deepEqual(await spoken(page), [], 'a typed question is not read aloud');

    assert.equal(await askByVoice(page), '5');
    await until('the voice reply to be spoken', async () => (await spoken(page)).includes('5'), { timeoutMs: 3000 });

    // Muted: even a voice turn stays silent, and the choice survives a reload (this browser).
    const mute = page.getByTestId('mute-toggle');
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');
    assert.equal(await mute.getAttribute('aria-label'), 'Unmute replies');
    assert.equal(await askByVoice(page), '6');
    await sleep(400);
    assert.deepEqual(await spoken(page), ['5'], 'nothing is spoken while muted');
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');

    // "Always": typed questions are read aloud too; the choice is saved on the server.
    await chooseSpeakReplies(page, 'always');
    assert.equal((await pageFetch(page, '/api/settings/me')).body.settings.speak_replies, 'always');
    assert.equal(await ask(page, 'what is 9 plus 9'), '18');
    await until('the typed reply to be spoken', async () => (await spoken(page)).includes('18'), { timeoutMs: 3000 });

    // "Never": not even a voice turn.
    await chooseSpeakReplies(page, 'never');
    assert.equal(await askByVoice(page), '7');
    await sleep(400);
    assert.deepEqual(await spoken(page), ['5', '18'], 'nothing is spoken with "never"');
  });
});

test('Markdown marks are not read aloud and list numbers do not split sentences', async (t) => {
  const REPLY = '## Summary\n\nOtters are **very** playful.\n\n1. They hold hands.\n2. They use `stones` as tools.';
  await scenario(t, { fake: { ttftMs: 50, chunkDelayMs: 40, chunks: 5, reply: REPLY } }, async ({ page, server }) => {
    await openApp(page, server.url);
    const put = await pageFetch(page, '/api/settings/me', { method: 'PUT', json: { speak_replies: 'always' } });
    assert.equal(put.status, 200);
    await page.reload();
    await page.waitForFunction(() => window.__ballsy.state.settings.speak_replies === 'always');
    await page.getByTestId('text-input').fill('tell me about otters');
    await page.getByTestId('text-input').press('Enter');
    await waitReply(page, { status: 'complete' });
    const utterances = await until('the whole reply to be spoken', async () => {
      const u = await spoken(page);
      return u.length >= 4 ? u : null;
    }, { timeoutMs: 5000 });
    assert.deepEqual(utterances, ['Summary', 'Otters are very playful.', 'They hold hands.', 'They use stones as tools.']);
  });
});
