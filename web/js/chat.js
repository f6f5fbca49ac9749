// The conversation log: message bubbles, action cards, notes.
//
// Each bubble: <article data-testid="message" data-role="user|assistant"
//               data-status="streaming|complete|truncated|interrupted|cut_off|refused|failed"
//               data-source="…">
// data-status is the server's status of the turn (plus 'streaming' while it arrives); an
// assistant's text is rendered as safe Markdown (js/markdown.js), a user's as plain text.

import { h } from './dom.js';
import { renderMarkdown } from './markdown.js';

const SOURCE_LABELS = {
  rule: 'Instant',
  gemini: 'Gemini',
  offline: 'Commands only',
  budget: 'AI budget used up',
  fallback: 'AI unavailable',
  live: 'Live',
};

const STATUS_LABELS = {
  truncated: 'Cut short',
  interrupted: 'Stopped',
  cut_off: 'Interrupted',
  refused: 'Refused',
  failed: 'Not answered',
};

/** Statuses that offer Retry (when the bubble knows its question). */
const RETRYABLE = new Set(['failed', 'cut_off']);

/** Only http(s) links ever become clickable. */
export function safeHttpUrl(raw) {
  try {
    const u = new URL(String(raw), location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

export const searchUrl = (q) => 'https://www.google.com/search?q=' + encodeURIComponent(q);

export class Bubble {
  constructor(role, text, status) {
    this.role = role;
    this.textEl = h('div', { class: 'text' });
    this._raw = '';
    this.metaEl = h('div', { class: 'meta' });
    const body = h('div', { class: 'bubble' }, this.textEl);
    if (role === 'assistant') body.append(h('span', { class: 'typing', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')));
    this.el = h('article', { class: 'msg', 'data-testid': 'message', dataset: { role } }, body, this.metaEl);
    this.setText(text);
    this.setStatus(status);
  }

  /** The text as received (Markdown source for an assistant). */
  get text() {
    return this._raw;
  }

  setText(text) {
    this._raw = String(text ?? '');
    if (this.role === 'assistant' && this._raw) this.textEl.replaceChildren(...renderMarkdown(this._raw));
    else this.textEl.textContent = this._raw;
  }

  setStatus(status, note) {
    this.status = status;
    this.el.dataset.status = status;
    this.el.setAttribute('aria-busy', String(status === 'streaming'));
    this._renderMeta(note);
  }

  setSource(source) {
    if (source) this.el.dataset.source = source;
    else delete this.el.dataset.source;
    this._renderMeta();
  }

  _renderMeta(note = this._note) {
    this._note = note;
    const parts = [];
    const src = this.el.dataset.source;
    if (this.role === 'assistant' && src && SOURCE_LABELS[src]) parts.push(h('span', { class: 'chip', text: SOURCE_LABELS[src] }));
    if (STATUS_LABELS[this.status]) {
      parts.push(h('span', { class: 'chip chip-' + this.status, text: note || STATUS_LABELS[this.status] }));
    }
    if (this._retry && RETRYABLE.has(this.status)) {
      parts.push(h('button', { type: 'button', class: 'link-btn', 'data-testid': 'retry', text: 'Retry', onclick: this._retry }));
    }
    this.metaEl.replaceChildren(...parts);
    this.metaEl.hidden = parts.length === 0;
  }

  /** Show a Retry button while failed or cut off. */
  onRetry(fn) {
    this._retry = () => {
      this._retry = null;
      this._renderMeta();
      fn();
    };
    this._renderMeta();
  }

  append(node) {
    this.el.append(node);
  }

  /** Back to an empty, streaming reply (Retry): text, source and any card or note go. */
  restart() {
    for (const extra of this.el.querySelectorAll(':scope > .card, :scope > .note')) extra.remove();
    this.setText('');
    this.setSource(null);
    this.setStatus('streaming');
  }
}

export class ChatView {
  constructor(logEl, emptyEl) {
    this.log = logEl;
    this.empty = emptyEl;
    this._syncEmpty();
  }

  clear() {
    this.log.replaceChildren();
    this._syncEmpty();
  }

  add(role, text = '', status = 'complete') {
    const stick = this._nearBottom();
    const b = new Bubble(role, text, status);
    this.log.append(b.el);
    this._syncEmpty();
    if (stick || role === 'user') this.scroll();
    return b;
  }

  /** Insert restored bubbles (elements) above everything else. */
  prepend(nodes) {
    if (!nodes.length) return;
    this.log.prepend(...nodes);
    this._syncEmpty();
    this.scroll();
  }

  /** Call after changing a bubble's content: keeps the view pinned to the bottom if it was. */
  changed(wasNearBottom = true) {
    if (wasNearBottom) this.scroll();
  }

  nearBottom() {
    return this._nearBottom();
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** Bring a bubble (and the Retry under it) fully into the log's view. */
  reveal(bubble) {
    bubble.el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  /** Insert bubbles (elements) before `before`, or at the end. */
  insert(nodes, before = null) {
    if (!nodes.length) return;
    if (before) before.before(...nodes);
    else this.log.append(...nodes);
    this._syncEmpty();
  }

  /** Replace everything with restored bubbles (elements). */
  replace(nodes) {
    this.log.replaceChildren(...nodes);
    this._syncEmpty();
    this.scroll();
  }

  /** A link card for open_url / search. */
  actionCard(bubble, { action, url, title, subtitle }) {
    const href = safeHttpUrl(url);
    if (!href) return null;
    const link = h('a', { class: 'card-link', href, target: '_blank', rel: 'noopener noreferrer' },
      h('span', { class: 'card-title', text: title }),
      h('span', { class: 'card-sub', text: subtitle }),
      h('span', { class: 'card-arrow', 'aria-hidden': 'true', text: '↗' }));
    const card = h('div', { class: 'card', 'data-testid': 'action-card', dataset: { action } }, link);
    const stick = this._nearBottom();
    bubble.append(card);
    if (stick) this.scroll();
    return card;
  }

  /** A small explanatory note under a bubble (open_app, exit). */
  note(bubble, text) {
    const stick = this._nearBottom();
    bubble.append(h('p', { class: 'note', 'data-testid': 'action-note', text }));
    if (stick) this.scroll();
  }

  _nearBottom() {
    const l = this.log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }

  _syncEmpty() {
    if (this.empty) this.empty.hidden = this.log.children.length > 0;
  }
}
