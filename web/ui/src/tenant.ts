// The tenant field: shown when multi-tenancy is on, remembered in the browser.
import { getTenant, onTenant, setTenant } from './api';
import { h, onLeave } from './dom';

/** tenantField is an input bound to the app's tenant; page says it belongs to the current page only. */
export function tenantField(page = true): HTMLElement {
  const input = h('input', { class: 'tenant', name: 'tenant', placeholder: 'tenant', value: getTenant(), size: 12, title: 'Tenant (sent as X-Scope-OrgID)', 'aria-label': 'tenant' });
  input.addEventListener('change', () => setTenant(input.value));
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') setTenant(input.value); });
  const off = onTenant((t) => { if (input.value !== t) input.value = t; });
  if (page) onLeave(off);
  return h('label', { class: 'tenant-field' }, 'Tenant ', input);
}
