// axe-core accessibility checks on the live page.
//
// axe is evaluated through the DevTools protocol (page.evaluate), which the page's CSP does
// not apply to, so the check adds no <script> and cannot itself cause a CSP violation.
// Frames are not entered: the only frame Ballsy has is Google's sandboxed Search Suggestion
// chip, whose markup is Google's and shown as provided.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Run axe on `include` (CSS selectors; default the whole document) and return its violations
 * as [{id, impact, help, nodes: [target, …]}].
 */
export async function axeViolations(page, { include = null } = {}) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (include) => {
    const context = include ? { include: include.map((s) => [s]) } : document;
    const r = await window.axe.run(context, { iframes: false, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
  }, include);
}

/** Throws, listing them, if axe finds any violation in `include`. */
export async function assertAccessible(page, what, opts = {}) {
  const violations = await axeViolations(page, opts);
  if (violations.length) {
    throw new Error(`axe found ${violations.length} violation(s) on ${what}:\n${JSON.stringify(violations, null, 2)}`);
  }
}
