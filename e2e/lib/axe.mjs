// Accessibility checks with axe-core (npm axe-core), run in the page.
//
// The page's CSP allows no inline script, so axe's source cannot go in through a <script>
// element (addScriptTag, which would inline it, is refused and reported as a violation).
// Playwright's evaluate runs in the page's main world through the DevTools protocol, which CSP
// does not govern; axe is defined there once per document and then run. Frames are not
// entered: the only frame Ballsy has is Google's sandboxed Search Suggestion chip, whose markup
// is Google's and shown as provided.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Run axe on the page (or on `include`: a CSS selector or a list of them) against WCAG 2.2 A/AA
 * and best practices; returns the violations as [{id, impact, help, nodes: [target…]}].
 */
export async function axeViolations(page, { include = null } = {}) {
  // A dialog fading in has blended colours for a moment, which axe reads as poor contrast:
  // let finite transitions and animations end first (endless ones, like the orb's, are left).
  await page.evaluate(() => Promise.race([
    Promise.all(document.getAnimations()
      .filter((a) => a.effect?.getComputedTiming().endTime !== Infinity)
      .map((a) => a.finished.catch(() => {}))),
    new Promise((resolve) => setTimeout(resolve, 2000)),
  ]));
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const selectors = include == null ? null : [].concat(include);
  return page.evaluate(async (selectors) => {
    const context = selectors ? { include: selectors.map((s) => [s]) } : document;
    const r = await window.axe.run(context, {
      iframes: false,
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(1).join(' ').trim()}`),
    }));
  }, selectors);
}

/** Fail with every violation listed when axe finds any. */
export async function assertAccessible(page, what, opts = {}) {
  const violations = await axeViolations(page, opts);
  if (violations.length) {
    throw new Error(`axe found ${violations.length} violation(s) on ${what}:\n${JSON.stringify(violations, null, 2)}`);
  }
}
