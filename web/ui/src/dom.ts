// A tiny DOM builder: the UI is plain TypeScript, with no framework.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

/** h creates an element: attributes starting with "on" are listeners, true/false toggle boolean attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(v);
    } else if (k === 'checked' && 'checked' in el) {
      (el as HTMLInputElement).checked = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** clear empties el and appends children. */
export function replace(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

/** alertBox shows an error, warning or info as Prometheus' UI does: one coloured box per message. */
export function alertBox(kind: 'error' | 'warning' | 'info', msg: string): HTMLElement {
  const title = kind === 'error' ? 'Error' : kind === 'warning' ? 'Warning' : 'Info';
  return h('div', { class: `alert alert-${kind}`, role: 'alert' }, h('strong', {}, title + ': '), msg);
}

/** router.navigate is set by the router: it moves to an app path without reloading the page. */
export const router = { navigate: (_path: string): void => {} };

/** onLeave runs fn when the router leaves the current page (to drop listeners). */
export const leaving: Array<() => void> = [];
export function onLeave(fn: () => void): void {
  leaving.push(fn);
}

/** link is an anchor to an app path that the router follows without reloading. */
export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: path, 'data-link': true }, ...children);
}
