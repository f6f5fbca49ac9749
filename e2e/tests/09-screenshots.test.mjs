// 9. Screenshots: light and dark, desktop (1280×800) and phone (390×844), with a short
//    conversation on screen. Saved to e2e/artifacts/screens/; with UPDATE_SCREENSHOTS=1 also to
//    docs/screenshot-{light,dark}-{desktop,phone}.png. Also checks the layout fits each width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scenario, openApp, reloadApp, ask, pageFetch, screenshot, transcript } from '../lib/app.mjs';
import { launch } from '../lib/browser.mjs';

const REPLY = 'Sea otters **hold hands** while they sleep so they do not drift apart. '
  + 'They also keep a favourite stone in a pouch of skin under each arm.';
const SHOWN = REPLY.replaceAll('**', ''); // the bold part is rendered, not shown as marks

function pngSize(path) {
  const b = readFileSync(path);
  assert.equal(b.toString('ascii', 1, 4), 'PNG', `${path} is a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), bytes: b.length };
}

async function setTheme(page, theme) {
  const r = await pageFetch(page, '/api/settings/me', { method: 'PUT', json: { theme } });
  assert.equal(r.status, 200);
  await reloadApp(page);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
}

/** The page fits the viewport: no sideways scrolling, composer and newest message in view. */
async function checkLayout(page, label) {
  const m = await page.evaluate(() => {
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const inView = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.left >= -1 && r.right <= vw + 1 && r.top >= -1 && r.bottom <= vh + 1;
    };
    const msgs = document.querySelectorAll('[data-testid="message"]');
    return {
      scrollWidth: document.documentElement.scrollWidth,
      vw,
      input: inView(document.querySelector('[data-testid="text-input"]')),
      send: inView(document.querySelector('[data-testid="send-button"]')),
      orb: inView(document.querySelector('[data-testid="orb"]')),
      settings: inView(document.querySelector('[data-testid="settings-button"]')),
      lastMessage: msgs.length ? inView(msgs[msgs.length - 1]) : false,
      overflowing: [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > vw + 1)
        .map((el) => el.tagName + (el.className ? '.' + String(el.className).split(' ')[0] : '')).slice(0, 5),
    };
  });
  assert.ok(m.scrollWidth <= m.vw, `${label}: no horizontal overflow (${m.scrollWidth} > ${m.vw}: ${m.overflowing.join(', ')})`);
  for (const k of ['input', 'send', 'orb', 'settings', 'lastMessage']) assert.ok(m[k], `${label}: ${k} is fully in view`);
}

async function shoot(page, name, expected) {
  await page.evaluate(() => document.activeElement?.blur?.());
  await page.waitForFunction(() => document.body.dataset.orbState === 'idle', null, { timeout: 5000 });
  await page.evaluate(() => document.querySelectorAll('[data-testid="notice"]').forEach((n) => n.remove()));
  const path = await screenshot(page, name, { docsName: `screenshot-${name}.png` });
  const size = pngSize(path);
  assert.deepEqual([size.width, size.height], expected, `${name}: image size`);
  assert.ok(size.bytes < 400_000, `${name}: screenshot stays small (${size.bytes} bytes)`);
}

test('screenshots of light and dark, desktop and phone, with a conversation on screen', async (t) => {
  await scenario(t, { fake: { ttftMs: 0, chunkDelayMs: 10, chunks: 3, reply: REPLY } }, async ({ page, server, browser, defer }) => {
    await openApp(page, server.url);
    assert.equal(await ask(page, 'What is 240 divided by 8?'), '30');
    await ask(page, 'Open YouTube');
    await page.getByTestId('action-card').waitFor();
    assert.equal(await ask(page, 'Tell me something nice about otters'), SHOWN);
    const conversation = await transcript(page);

    await setTheme(page, 'light');
    await checkLayout(page, 'light desktop');
    await shoot(page, 'light-desktop', [1280, 800]);
    await setTheme(page, 'dark');
    await checkLayout(page, 'dark desktop');
    await shoot(page, 'dark-desktop', [1280, 800]);

    // The same visitor on a phone (the identity cookie carried over).
    const phone = await launch({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    defer(() => phone.close());
    await phone.context.addCookies(await browser.context.cookies());
    await openApp(phone.page, server.url);
    assert.deepEqual(await transcript(phone.page), conversation, 'the phone shows the same conversation');
    assert.equal(await phone.page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await checkLayout(phone.page, 'dark phone');
    await shoot(phone.page, 'dark-phone', [780, 1688]);
    await setTheme(phone.page, 'light');
    await checkLayout(phone.page, 'light phone');
    await shoot(phone.page, 'light-phone', [780, 1688]);
    phone.assertClean();
  });
});
