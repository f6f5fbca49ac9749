// Tiny DOM helpers. Text is always set with textContent / text nodes, never HTML.

/**
 * h('div', {class: 'x', text: 'hi', dataset: {role: 'user'}, onclick: fn}, child, 'text')
 * Strings among the children become text nodes; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

/** First element with data-testid=id. */
export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** Promise that resolves after ms. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Exponential backoff with full jitter: random in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt, baseMs = 500, capMs = 30000) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.floor(Math.random() * ceiling);
}

/** Random id of URL-safe characters ([A-Za-z0-9_-]). */
export function randomId(bytes = 16) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** True when keyboard focus is in something that takes typing or its own Space/Enter. */
export function isInteractiveTarget(t) {
  if (!t || !(t instanceof Element)) return false;
  if (t.isContentEditable) return true;
  return !!t.closest('input, textarea, select, button, a[href], summary, [role="button"], dialog[open]');
}
