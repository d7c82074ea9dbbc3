// DOM building without HTML strings: every value becomes a text node or a checked attribute, so data
// from users or the gateway can never turn into markup or script. Nothing here uses innerHTML.

const BLOCKED_ATTRIBUTES = /^(on|style$|srcdoc$|formaction$)/i;

/** Creates an element. Props: class, on<event> functions, hidden/disabled booleans, other attributes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class') {
      el.className = String(value);
    } else if (BLOCKED_ATTRIBUTES.test(name)) {
      throw new Error(`attribute ${name} is not allowed`);
    } else if (name === 'href' && !String(value).startsWith('#')) {
      // Links stay inside the page: a javascript: or remote URL from data can never be rendered.
      throw new Error('only in-page links are allowed');
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function time(iso) {
  if (iso === null || iso === undefined) return '';
  const d = new Date(iso);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

export function table(headers, rows, empty = 'Nothing to show') {
  if (rows.length === 0) return h('p', { class: 'muted empty' }, empty);
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h('tbody', {}, rows),
  );
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

/** A button that runs an async action, disabled while it runs. */
export function actionButton(label, action, { kind = '', confirmText = '' } = {}) {
  const button = h('button', { type: 'button', class: kind });
  button.textContent = label;
  button.addEventListener('click', async () => {
    if (confirmText !== '' && !window.confirm(confirmText)) return;
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
