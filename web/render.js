// Turns a model's answer into safe HTML: Debian's marked renders the Markdown, then Debian's
// DOMPurify sanitises the result. Both are classic scripts loaded before this module
// (window.marked, window.DOMPurify). Nothing in an answer can run script:
// - raw HTML in the Markdown is shown as text, never parsed (marked's html renderer is replaced);
// - images become links, so an answer cannot make the browser fetch a URL (a known way to leak a
//   conversation through an image address);
// - DOMPurify then removes whatever script, event handler or javascript: URL is left.

const { marked } = window.marked;
const purify = window.DOMPurify;

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

marked.setOptions({ gfm: true, breaks: false, headerIds: false, mangle: false });
marked.use({
  renderer: {
    html(html) {
      return escape(html);
    },
    image(href, title, text) {
      const label = `image: ${text || href || ''}`;
      return href ? `<a href="${escape(href)}">${escape(label)}</a>` : escape(label);
    },
  },
});

const sanitizeOptions = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'img', 'svg', 'math', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'video', 'audio', 'source'],
  FORBID_ATTR: ['style', 'id', 'name', 'class'],
};

// Links open in a new tab, without a referrer or a handle on this page.
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/** Renders `markdown` into `element` (replacing its content), with a copy button per code block. */
export function renderMarkdown(element, markdown) {
  const fragment = purify.sanitize(marked.parse(markdown), { ...sanitizeOptions, RETURN_DOM_FRAGMENT: true });
  for (const pre of fragment.querySelectorAll('pre')) {
    const block = document.createElement('div');
    block.className = 'code';
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy this code');
    pre.replaceWith(block);
    block.append(copy, pre);
  }
  element.replaceChildren(fragment);
}

/** Copies a code block's text when its Copy button is pressed (one listener for the page). */
export function handleCopy(event) {
  const button = event.target.closest('button.copy');
  if (!button) return;
  const text = button.parentElement.querySelector('pre').textContent;
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  };
  if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => done('Copied'), () => done('Copy failed'));
  else done('Copy failed');
}
