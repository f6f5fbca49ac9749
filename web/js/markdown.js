// The Markdown subset models write, shown safely and read aloud cleanly.
//
// renderMarkdown(text) returns DOM nodes built with createElement / text nodes only: model
// text never reaches innerHTML, so "<img onerror=…>" in a reply shows as those characters.
// Supported: paragraphs (single newlines kept as line breaks), "#" headings (shown as bold
// lines: a reply must not take part in the page's heading outline), "-", "*", "+" and "1."
// lists, ``` fenced and `inline` code, **bold** / __bold__, *italics* / _italics_, and links:
// [text](http…) and bare http(s) URLs. Any other link scheme stays plain text.
//
// stripMarkdown(text) removes the same marks for speech.

import { h } from './dom.js';

const FENCE = /^\s*```/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

// One pass finds the leftmost inline construct; the groups say which one matched.
const INLINE = new RegExp([
  '`([^`\\n]+)`', // 1: code
  '\\[([^\\]\\n]+)\\]\\(([^)\\s]+)\\)', // 2, 3: [text](url)
  '(https?:\\/\\/[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?\'"*_])', // 4: bare URL, without trailing punctuation
  '\\*\\*(?=\\S)([^\\n]*?\\S)\\*\\*', // 5: **bold**
  '(?<![\\w])__(?=\\S)([^\\n]*?\\S)__(?![\\w])', // 6: __bold__
  '\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*', // 7: *italic*
  '(?<![\\w])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\w])', // 8: _italic_
].join('|'));

function linkTo(href) {
  try {
    const u = new URL(href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

const anchor = (href, children) =>
  h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'md-link' }, children);

/** Inline nodes for one line (or a run of lines without block structure). */
export function renderInline(text) {
  const out = [];
  let at = 0;
  // Its own regex object: the calls nest (bold inside a link), and lastIndex is per object.
  const re = new RegExp(INLINE.source, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    const [whole, code, label, href, bare, bold1, bold2, em1, em2] = m;
    if (code != null) out.push(h('code', { text: code }));
    else if (label != null) {
      const url = linkTo(href);
      out.push(url ? anchor(url, renderInline(label)) : whole);
    } else if (bare != null) {
      const url = linkTo(bare);
      out.push(url ? anchor(url, [bare]) : bare);
    } else if (bold1 != null || bold2 != null) out.push(h('strong', {}, renderInline(bold1 ?? bold2)));
    else out.push(h('em', {}, renderInline(em1 ?? em2)));
    at = m.index + whole.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Lines joined by <br>, each rendered inline. */
function lines(list) {
  const out = [];
  list.forEach((line, i) => {
    if (i) out.push(h('br'));
    out.push(...renderInline(line));
  });
  return out;
}

/** Block-level nodes for a whole reply. */
export function renderMarkdown(text) {
  const src = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let para = [];
  let list = null; // {el, ordered}
  const endPara = () => {
    if (para.length) blocks.push(h('p', {}, lines(para)));
    para = [];
  };
  const endList = () => {
    list = null;
  };
  for (let i = 0; i < src.length; i++) {
    const line = src[i];
    if (FENCE.test(line)) {
      endPara();
      endList();
      const code = [];
      // An unclosed fence (a reply still streaming) runs to the end.
      for (i++; i < src.length && !FENCE.test(src[i]); i++) code.push(src[i]);
      blocks.push(h('pre', {}, h('code', { text: code.join('\n') })));
      continue;
    }
    if (!line.trim()) {
      endPara();
      endList();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endPara();
      endList();
      blocks.push(h('p', { class: 'md-heading' }, h('strong', {}, renderInline(heading[1]))));
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      endPara();
      const ordered = !!numbered;
      if (!list || list.ordered !== ordered) {
        const attrs = ordered && numbered[1] !== '1' ? { start: numbered[1] } : {};
        list = { el: h(ordered ? 'ol' : 'ul', attrs), ordered };
        blocks.push(list.el);
      }
      list.el.append(h('li', {}, renderInline(ordered ? numbered[2] : bullet[1])));
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      // An indented continuation of the last list item.
      const li = list.el.lastElementChild;
      li.append(' ', ...renderInline(line.trim()));
      continue;
    }
    endList();
    para.push(line);
  }
  endPara();
  return blocks;
}

/** The words of a Markdown reply, without its marks, for speechSynthesis. */
export function stripMarkdown(text) {
  return String(text ?? '')
    .replace(/^\s*```.*$/gm, '')
    .replace(/^\s{0,3}#{1,6}\s+/gm, '')
    .replace(/^\s{0,3}(?:[-*+]|\d{1,9}[.)])\s+/gm, '')
    .replace(/\[([^\]\n]+)\]\((?:[^)\s]+)\)/g, '$1')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/\*\*(?=\S)([^\n]*?\S)\*\*/g, '$1')
    .replace(/(?<![\w])__(?=\S)([^\n]*?\S)__(?![\w])/g, '$1')
    .replace(/\*(?=[^\s*])([^*\n]*?[^\s*])\*/g, '$1')
    .replace(/(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])/g, '$1');
}
