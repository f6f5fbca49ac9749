// 0. The harness itself: the checks every other test ends with must be able to fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, until } from '../lib/app.mjs';

test('the harness catches console errors and CSP violations', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await openApp(page, server.url);
    assert.doesNotThrow(() => browser.assertClean(), 'a freshly loaded page is clean');

    await page.evaluate(() => {
      console.error('e2e: deliberate console error');
      // Not allowed by the page's CSP (script-src 'self'): reported as a violation.
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.head.append(s);
    });
    await until('a CSP violation and a console error to be recorded', () =>
      browser.problems.csp.length > 0 && browser.problems.console.some((c) => c.text.includes('deliberate')));
    assert.equal(await page.evaluate(() => window.__inlineRan === true), false, 'the CSP blocked the inline script');
    assert.throws(() => browser.assertClean(), /deliberate console error/);

    // Reset so the scenario's own final check passes.
    for (const k of Object.keys(browser.problems)) browser.problems[k].length = 0;
  });
});
