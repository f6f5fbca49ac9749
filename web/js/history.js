// Past conversations: the history <dialog> (newest first, searchable, reopenable) and
// "New conversation" with an undo toast.
//
// The server keeps every conversation; DELETE /api/conversation ends the open one and answers
// {conversation_id, previous_conversation_id}; POST /api/conversations/{id}/reopen makes a
// past one the open one again and answers it like GET /api/conversation. Both tell the user's
// other tabs with a conversation_changed frame.
//
// Test hooks: history-button, history-panel, history-search, history-list, history-item
// (data-id, data-open="true" for the open one; a <button> inside reopens it), history-status,
// history-close; the undo toast is a notice whose action button is notice-action.

import { api, describeError } from './api.js';
import { h } from './dom.js';

const SEARCH_DELAY_MS = 250;

function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  try {
    return sameDay
      ? d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' })
      : d.toLocaleDateString([], { month: 'short', day: 'numeric', year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
  } catch {
    return d.toISOString().slice(0, 10);
  }
}

/**
 * opts: dialog, openButton, newButton, ui (toasts/status),
 *   show(conversation)  put a conversation ({conversation_id, messages}) on screen,
 *   clear(conversationId)  empty the screen for a new conversation,
 *   beforeChange()  stop speech/streaming before the screen changes (may return false to wait).
 */
export class HistoryView {
  constructor({ dialog, openButton, newButton, ui, show, clear, beforeChange }) {
    this.dialog = dialog;
    this.ui = ui;
    this.show = show;
    this.clear = clear;
    this.beforeChange = beforeChange;
    this.list = dialog.querySelector('[data-testid="history-list"]');
    this.search = dialog.querySelector('[data-testid="history-search"]');
    this.statusEl = dialog.querySelector('[data-testid="history-status"]');
    this.openButton = openButton;
    this._seq = 0;
    this._timer = 0;

    openButton.addEventListener('click', () => this.open());
    newButton.addEventListener('click', () => this.startNew());
    dialog.querySelector('[data-testid="history-close"]').addEventListener('click', () => dialog.close());
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) dialog.close();
    });
    dialog.addEventListener('close', () => openButton.focus());
    this.search.addEventListener('input', () => {
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this.load(), SEARCH_DELAY_MS);
    });
  }

  open() {
    this.search.value = '';
    if (typeof this.dialog.showModal === 'function') this.dialog.showModal();
    else this.dialog.setAttribute('open', '');
    this.load();
  }

  async load() {
    const seq = ++this._seq;
    const q = this.search.value.trim();
    this.statusEl.textContent = 'Loading…';
    try {
      const r = await api(`/api/conversations?limit=50${q ? `&q=${encodeURIComponent(q)}` : ''}`);
      if (seq !== this._seq) return; // a newer search is on its way
      const items = Array.isArray(r?.conversations) ? r.conversations.filter((c) => c.turns > 0) : [];
      this.list.replaceChildren(...items.map((c) => this._item(c)));
      this.statusEl.textContent = items.length ? ''
        : q ? `No conversation mentions “${q}”.` : 'No past conversations yet.';
    } catch (e) {
      if (seq !== this._seq) return;
      this.statusEl.textContent = `Couldn't load your conversations. ${describeError(e)}`;
    }
  }

  _item(c) {
    const title = String(c.title || 'Conversation');
    const turns = Number(c.turns) || 0;
    const button = h('button', { type: 'button', class: 'history-open' },
      h('span', { class: 'history-title', text: title }),
      c.preview ? h('span', { class: 'history-preview', text: String(c.preview) }) : null,
      h('span', { class: 'history-when' },
        c.open ? h('span', { class: 'chip', text: 'Current' }) : null,
        ` ${when(c.last_activity)} · ${turns} ${turns === 1 ? 'exchange' : 'exchanges'}`));
    button.addEventListener('click', () => this.reopen(c.id, { current: !!c.open }));
    return h('li', { class: 'history-item', 'data-testid': 'history-item', dataset: { id: String(c.id), open: String(!!c.open) } }, button);
  }

  /** Make conversation id the open one and show it; from the list or the undo toast. */
  async reopen(id, { current = false } = {}) {
    if (current) {
      this.dialog.close();
      return true;
    }
    await this.beforeChange();
    try {
      const r = await api(`/api/conversations/${encodeURIComponent(id)}/reopen`, { method: 'POST' });
      this.show(r);
      if (this.dialog.open) this.dialog.close();
      return true;
    } catch (e) {
      const msg = `Couldn't open that conversation. ${describeError(e)}`;
      if (this.dialog.open) this.statusEl.textContent = msg;
      else this.ui.toast(msg, { tone: 'error', key: 'conv' });
      return false;
    }
  }

  /** "New conversation": end the open one, and offer to bring it back. */
  async startNew() {
    await this.beforeChange();
    let r;
    try {
      r = await api('/api/conversation', { method: 'DELETE' });
    } catch (e) {
      this.ui.toast(`Couldn't start a new conversation. ${describeError(e)}`, { tone: 'error', key: 'conv' });
      return;
    }
    this.clear(r?.conversation_id ?? null);
    const previous = r?.previous_conversation_id;
    if (previous == null) return;
    this.ui.toast('Started a new conversation.', {
      key: 'new-conversation',
      ms: 8000,
      action: { label: 'Undo', run: () => this.reopen(previous) },
    });
  }
}
