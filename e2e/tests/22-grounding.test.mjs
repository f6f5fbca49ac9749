// 22. An answer grounded in Google Search (fake Gemini, GEMINI_GROUNDING=on): its sources as
// links under the answer, and Google's Search Suggestion chip, shown exactly as provided in a
// sandboxed frame of its own, at least as wide as the answer bubble.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, ask, bubbles, until } from '../lib/app.mjs';
import { assertAccessible } from '../lib/axe.mjs';

const QUESTION = 'who won the world series last night';
const GROUNDED = {
  text: 'The Dodgers won the World Series last night. They beat the Yankees 7 to 6.',
  queries: ['world series winner', 'dodgers yankees game 7'],
  sources: [{ title: 'mlb.com' }, { title: 'espn.com' }],
};

async function checkGrounded(page, label) {
  const reply = bubbles(page, 'assistant').last();
  const sources = reply.getByTestId('grounding-sources');
  await sources.waitFor();
  const links = sources.locator('a');
  assert.deepEqual(await links.allTextContents(), ['mlb.com', 'espn.com'], `${label}: one link per source, titled as Google titles them`);
  for (const link of await links.all()) {
    assert.match(await link.getAttribute('href'), /^https:\/\/vertexaisearch\.cloud\.google\.com\/grounding-api-redirect\//);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /noopener/);
  }

  const chip = reply.getByTestId('search-suggestions');
  await chip.waitFor();
  assert.equal(await chip.evaluate((el) => el.tagName), 'IFRAME');
  const turnId = await chip.evaluate((el) => new URL(el.src).pathname.match(/^\/api\/turns\/(\d+)\/search-suggestions$/)?.[1]);
  assert.ok(turnId, `${label}: the frame shows the turn's chip document`);
  assert.equal(await chip.getAttribute('sandbox'), 'allow-popups allow-popups-to-escape-sandbox');
  const bubbleBox = await reply.locator('.bubble').boundingBox();
  const chipBox = await chip.boundingBox();
  assert.ok(chipBox.width >= bubbleBox.width, `${label}: the chip (${chipBox.width}px) is at least as wide as the bubble (${bubbleBox.width}px)`);
  assert.ok(chipBox.y >= bubbleBox.y + bubbleBox.height, `${label}: the chip is under the answer`);

  // The chip document is Google's HTML as provided: its queries as links to Google Search.
  const frame = await chip.contentFrame();
  await until(`${label}: the chip document to load`, async () => (await frame.locator('a.chip').count()) === 2);
  assert.deepEqual(await frame.locator('a.chip').allTextContents(), GROUNDED.queries);
  return turnId;
}

test('a grounded answer shows its sources as links and the Search Suggestion chip, also after a reload', async (t) => {
  await scenario(t, { server: { env: { GEMINI_GROUNDING: 'on' } } }, async ({ page, server, fake }) => {
    await fake.config({ grounding: GROUNDED });
    await openApp(page, server.url);
    const text = await ask(page, QUESTION);
    assert.equal(text, GROUNDED.text);
    const reqs = await fake.requests();
    assert.ok(reqs.some((r) => JSON.stringify(r).includes('google_search') || JSON.stringify(r).includes('googleSearch')), 'the model was asked with Google Search');

    const turnId = await checkGrounded(page, 'live');
    await assertAccessible(page, 'a grounded answer', { include: ['[data-testid="chat-log"]'] });

    await reloadApp(page);
    assert.equal(await checkGrounded(page, 'restored'), turnId, 'the restored answer frames the same chip');
  });
});

test('an ungrounded answer has no sources and no chip frame', async (t) => {
  await scenario(t, { server: { env: { GEMINI_GROUNDING: 'on' } } }, async ({ page, server }) => {
    await openApp(page, server.url);
    await ask(page, 'tell me a joke');
    const reply = bubbles(page, 'assistant').last();
    assert.equal(await reply.getByTestId('grounding-sources').count(), 0);
    assert.equal(await page.locator('iframe').count(), 0);
  });
});
