// 11. Replies are shown as a safe Markdown subset: bold, italics, lists, inline and block code,
//     clickable http(s) links (new tab, rel=noopener), and never raw HTML: markup in a reply
//     shows as text, and other link schemes stay text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, lastBubble, sleep } from '../lib/app.mjs';

const REPLY = [
  '## Summary',
  '',
  'Otters are **very** playful and *curious*. See [the otter page](https://example.org/otters) or https://example.com/more.',
  '',
  '- They hold hands',
  '- They use `stones`',
  '',
  '1. First',
  '2. Second',
  '',
  '```',
  'let x = 1 < 2;',
  '```',
  '',
  'Careful: <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> and [bad](javascript:window.__pwned=3).',
].join('\n');

test('a Markdown reply renders as safe DOM: formatting, lists, code, links, and HTML as text', async (t) => {
  await scenario(t, { fake: { ttftMs: 50, chunkDelayMs: 30, chunks: 6, reply: REPLY } }, async ({ page, server }) => {
    await openApp(page, server.url);
    await ask(page, 'tell me about otters');
    const text = lastBubble(page, 'assistant').locator('.text');

    assert.equal(await text.locator('.md-heading strong').textContent(), 'Summary', 'a heading is a bold line, not raw ##');
    assert.equal(await text.locator('strong').nth(1).textContent(), 'very');
    assert.equal(await text.locator('em').textContent(), 'curious');
    assert.deepEqual(await text.locator('ul > li').allTextContents(), ['They hold hands', 'They use stones']);
    assert.equal(await text.locator('ul code').textContent(), 'stones');
    assert.deepEqual(await text.locator('ol > li').allTextContents(), ['First', 'Second']);
    assert.equal(await text.locator('pre > code').textContent(), 'let x = 1 < 2;');

    const links = await text.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.href, text: a.textContent, target: a.target, rel: a.rel })));
    assert.deepEqual(links, [
      { href: 'https://example.org/otters', text: 'the otter page', target: '_blank', rel: 'noopener noreferrer' },
      { href: 'https://example.com/more', text: 'https://example.com/more', target: '_blank', rel: 'noopener noreferrer' },
    ], 'http(s) links are clickable; the javascript: one is not a link');

    const raw = await text.textContent();
    assert.ok(!raw.includes('**') && !raw.includes('##') && !raw.includes('```'), `no Markdown marks on screen: ${raw}`);
    assert.ok(raw.includes('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'), 'HTML in the reply shows as text');
    assert.ok(raw.includes('[bad](javascript:window.__pwned=3)'), 'a javascript: link stays text');
    assert.equal(await text.locator('img, script').count(), 0, 'no element came from the reply\'s HTML');
    await sleep(200);
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'nothing in the reply ran');

    // The user's own text is never interpreted.
    await ask(page, 'what is **2** plus 2');
    assert.equal(await lastBubble(page, 'user').locator('.text').textContent(), 'what is **2** plus 2');
    assert.equal(await lastBubble(page, 'user').locator('strong').count(), 0);
  });
});
