// 1. A typed question streams into the assistant bubble piece by piece.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, typeCommand, lastBubble, waitReply } from '../lib/app.mjs';

const QUESTION = 'Tell me something nice about otters';
const REPLY = 'Otters hold hands while they sleep so they do not drift apart. '
  + 'Sea otters also keep a favourite stone in a pouch of skin under each arm.';

test('a typed question streams into a growing bubble and completes with the model reply', async (t) => {
  await scenario(t, { fake: { ttftMs: 200, chunkDelayMs: 150, chunks: 6, reply: REPLY } }, async ({ page, server, fake }) => {
    await openApp(page, server.url);

    // Record every text the newest assistant bubble shows, as it changes.
    await page.evaluate(() => {
      const log = document.querySelector('[data-testid="chat-log"]');
      window.__seen = [];
      new MutationObserver(() => {
        const b = [...log.querySelectorAll('[data-testid="message"][data-role="assistant"]')].pop();
        if (!b) return;
        const text = b.querySelector('.text')?.textContent ?? '';
        const last = window.__seen.at(-1);
        if (!last || last.text !== text || last.status !== b.dataset.status) {
          window.__seen.push({ text, status: b.dataset.status, orb: document.body.dataset.orbState });
        }
      }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
    });

    await typeCommand(page, QUESTION);
    assert.equal(await page.getByTestId('text-input').inputValue(), '', 'the input is cleared after sending');

    const user = lastBubble(page, 'user');
    assert.equal(await user.locator('.text').textContent(), QUESTION);

    const reply = await waitReply(page, { status: 'complete', timeout: 15_000 });
    assert.equal(await reply.locator('.text').textContent(), REPLY, 'final text is the model reply');
    assert.equal(await reply.getAttribute('data-source'), 'gemini');

    const deltaCount = await page.evaluate(() => window.__ballsy.state.deltaCount);
    assert.ok(deltaCount >= 2, `several response_delta frames arrived (got ${deltaCount})`);

    const seen = await page.evaluate(() => window.__seen);
    const partial = seen.filter((s) => s.status === 'streaming' && s.text);
    assert.ok(partial.length >= 2, `the bubble grew in more than one step while streaming: ${JSON.stringify(seen)}`);
    let prev = 0;
    for (const s of partial) {
      assert.ok(REPLY.startsWith(s.text), `partial text is a prefix of the reply: ${JSON.stringify(s.text)}`);
      assert.ok(s.text.length > prev, 'each step adds text');
      prev = s.text.length;
    }
    const incomplete = partial.filter((s) => s.text.length < REPLY.length);
    assert.ok(incomplete.length >= 2, `at least two partial texts were shown before the whole reply: ${JSON.stringify(seen)}`);
    assert.ok(seen.some((s) => s.status === 'streaming' && s.orb === 'thinking'), 'the orb shows "thinking" while the reply streams');
    assert.equal(seen.at(-1).status, 'complete');

    // The model got the question.
    const requests = await fake.requests();
    assert.equal(requests.length, 1, 'exactly one model request');
    assert.ok(requests[0].stream, 'the server used the streaming endpoint');
    assert.ok(JSON.stringify(requests[0].body).includes(QUESTION), 'the question reached the model');

    // Sent over the socket, with an id the reply was matched by.
    const frames = await page.evaluate(() => window.__ballsy.sentFrames);
    assert.ok(frames.some((f) => f.command === QUESTION && typeof f.id === 'string'), `command frame sent: ${JSON.stringify(frames)}`);
  });
});
