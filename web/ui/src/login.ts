// The login of a server run with -auth.type=tokens: a bearer token, or a
// user and password, kept in sessionStorage (this tab only, gone when it
// closes) and sent as Authorization on every API call (api.ts).
import { Credential, getCredential, setCredential } from './api';
import { h } from './dom';

/** describe names a credential without its secret. */
export function describe(c: Credential): string {
  return c.kind === 'basic' ? c.user : 'token';
}

/** loginControl is the navigation bar's login: a form when logged out, the user and a log-out button when in. */
export function loginControl(): HTMLElement {
  const c = getCredential();
  if (c) {
    const out = h('button', { type: 'button', class: 'logout' }, 'Log out');
    out.addEventListener('click', () => { setCredential(null); location.reload(); });
    return h('span', { class: 'login' }, h('span', { class: 'muted' }, `as ${describe(c)} `), out);
  }
  const kind = h('select', { name: 'kind', 'aria-label': 'credential kind' },
    h('option', { value: 'bearer' }, 'Token'), h('option', { value: 'basic' }, 'User'));
  const user = h('input', { name: 'user', placeholder: 'user', size: 10, autocomplete: 'username', 'aria-label': 'user', hidden: true });
  const secret = h('input', { name: 'secret', type: 'password', placeholder: 'token', size: 14, autocomplete: 'current-password', 'aria-label': 'token or password' });
  kind.addEventListener('change', () => {
    const basic = (kind as HTMLSelectElement).value === 'basic';
    (user as HTMLInputElement).hidden = !basic;
    (secret as HTMLInputElement).placeholder = basic ? 'password' : 'token';
  });
  const form = h('form', { class: 'login' }, kind, user, secret, h('button', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const s = (secret as HTMLInputElement).value;
    if (s === '') return;
    setCredential((kind as HTMLSelectElement).value === 'basic'
      ? { kind: 'basic', user: (user as HTMLInputElement).value.trim(), password: s }
      : { kind: 'bearer', token: s.trim() });
    location.reload();
  });
  return form;
}
