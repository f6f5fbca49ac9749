// Answers grounded in Google Search: the sources as links under the answer, and Google's
// Search Suggestion chip.
//
// Google's terms for grounding with Google Search ask that the chip be shown exactly as
// provided, next to the grounded answer. The chip is HTML and CSS from Google; the page never
// puts it into its own document (it would need 'unsafe-inline' styles, and it is not ours to
// restyle). The server serves it as its own document at /api/turns/{turn_id}/search-suggestions,
// and it is framed here with a sandbox that runs no script and only lets its links open
// Google in a new tab. The frame spans the message's full width, so it is at least as wide as
// the answer bubble above it; its height is fixed (the chip is one scrolling row), because a
// sandboxed document without scripts cannot report its size.

import { h } from './dom.js';
import { safeHttpUrl } from './chat.js';

const MAX_SOURCES = 8;

function hostOf(url) {
  try { return new URL(url).hostname.replace(/^www\./, ''); } catch { return ''; }
}

/**
 * Render a `grounded` action's data ({sources: [{title, uri}], search_suggestions}) under the
 * bubble of turn `turnId`.
 */
export function showGrounding(bubble, data, turnId) {
  const sources = (Array.isArray(data?.sources) ? data.sources : [])
    .map((s) => ({ title: String(s?.title ?? '').trim(), url: safeHttpUrl(s?.uri) }))
    .filter((s) => s.url)
    .slice(0, MAX_SOURCES);
  if (sources.length) {
    const items = sources.map((s) => h('li', {},
      h('a', { class: 'source-link', href: s.url, target: '_blank', rel: 'noopener noreferrer', text: s.title || hostOf(s.url) })));
    bubble.append(h('nav', { class: 'sources', 'data-testid': 'grounding-sources', 'aria-label': 'Sources' },
      h('span', { class: 'sources-label', 'aria-hidden': 'true', text: 'Sources' }),
      h('ol', { class: 'sources-list' }, ...items)));
  }
  const id = Number(turnId);
  if (typeof data?.search_suggestions === 'string' && data.search_suggestions && Number.isSafeInteger(id) && id > 0) {
    bubble.el.classList.add('msg-grounded');
    bubble.append(h('iframe', {
      class: 'search-chip', 'data-testid': 'search-suggestions',
      src: `/api/turns/${id}/search-suggestions`,
      sandbox: 'allow-popups allow-popups-to-escape-sandbox',
      title: 'Google Search suggestions', referrerpolicy: 'no-referrer',
    }));
  }
}
