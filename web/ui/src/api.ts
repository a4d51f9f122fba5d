// Calls to weft's HTTP API. Every call carries the tenant chosen in the UI as
// X-Scope-OrgID, so one browser can look at any tenant it knows the name of,
// and, when the server checks credentials (auth "tokens"), the user's
// credential as Authorization.

/** Settings is what /ui/settings.json tells the app about the server. */
export interface Settings {
  multitenancy: boolean;
  version: string;
  /** auth is "tokens" when the server wants credentials on every API call. */
  auth?: string;
}

export const settings: Settings = { multitenancy: false, version: '' };

/** Credential is what the user logged in with. */
export type Credential = { kind: 'bearer'; token: string } | { kind: 'basic'; user: string; password: string };

const credentialKey = 'weft.credential';

/** getCredential is the credential of this tab's session, or null. */
export function getCredential(): Credential | null {
  try {
    const c = JSON.parse(sessionStorage.getItem(credentialKey) ?? 'null');
    if (c && (c.kind === 'bearer' || c.kind === 'basic')) return c as Credential;
  } catch {
    // A damaged entry is no credential.
  }
  return null;
}

/** setCredential keeps c for this tab's session (sessionStorage), or forgets it with null. */
export function setCredential(c: Credential | null): void {
  if (c) sessionStorage.setItem(credentialKey, JSON.stringify(c));
  else sessionStorage.removeItem(credentialKey);
}

/** authorization is the Authorization header value of c. */
export function authorization(c: Credential): string {
  if (c.kind === 'bearer') return `Bearer ${c.token}`;
  // btoa takes Latin-1: encode the UTF-8 bytes of user:password first.
  const bytes = new TextEncoder().encode(`${c.user}:${c.password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

const tenantKey = 'weft.tenant';
const tenantListeners: Array<(t: string) => void> = [];

/** getTenant is the tenant remembered in this browser ('' when none). */
export function getTenant(): string {
  return localStorage.getItem(tenantKey) ?? '';
}

/** setTenant remembers the tenant and tells every listener. */
export function setTenant(t: string): void {
  t = t.trim();
  if (t === getTenant()) return;
  localStorage.setItem(tenantKey, t);
  for (const l of tenantListeners) l(t);
}

/** onTenant calls l whenever the tenant changes, until the returned function is called. */
export function onTenant(l: (t: string) => void): () => void {
  tenantListeners.push(l);
  return () => {
    const i = tenantListeners.indexOf(l);
    if (i >= 0) tenantListeners.splice(i, 1);
  };
}

/** APIError is an error answer of the API, with its HTTP status. */
export class APIError extends Error {
  constructor(message: string, readonly status: number, readonly errorType: string) {
    super(message);
  }
}

/** apiFetch is fetch with the tenant header and, once logged in, the credential. */
export function apiFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = getTenant();
  if (settings.multitenancy && t !== '') headers.set('X-Scope-OrgID', t);
  const c = settings.auth === 'tokens' ? getCredential() : null;
  if (c) headers.set('Authorization', authorization(c));
  return fetch(input, { ...init, headers });
}

/** errorFrom turns a failed answer into an APIError, reading Prometheus' error JSON when there is one. */
export async function errorFrom(res: Response): Promise<APIError> {
  const text = await res.text();
  try {
    const j = JSON.parse(text);
    if (j && typeof j.error === 'string') return new APIError(j.error, res.status, j.errorType ?? '');
  } catch {
    // Not JSON: the body itself is the message.
  }
  return new APIError(text.trim() || `${res.status} ${res.statusText}`, res.status, '');
}

/** getJSON fetches url and decodes its JSON, throwing an APIError on a non-2xx answer. */
export async function getJSON<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await apiFetch(url, init);
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** sendJSON sends body as JSON with method and decodes the answer. */
export function sendJSON<T>(method: string, url: string, body: unknown): Promise<T> {
  return getJSON<T>(url, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** PromResult is a successful answer of the Prometheus API, with its annotations. */
export interface PromResult<T> {
  data: T;
  warnings: string[];
  infos: string[];
}

/** promAPI calls /prometheus/api/v1/<path> with form parameters (POST, as Prometheus' UI does for queries). */
export async function promAPI<T>(path: string, params: Record<string, string>, method: 'GET' | 'POST' = 'POST'): Promise<PromResult<T>> {
  const body = new URLSearchParams(params);
  let url = `/prometheus/api/v1/${path}`;
  const init: RequestInit = { method };
  if (method === 'GET') {
    const q = body.toString();
    if (q) url += '?' + q;
  } else {
    init.body = body;
    init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  }
  const res = await apiFetch(url, init);
  let j: any;
  try {
    j = await res.json();
  } catch {
    throw new APIError(`${res.status} ${res.statusText}: the answer is not JSON`, res.status, '');
  }
  if (!res.ok || j.status !== 'success') {
    throw new APIError(j.error ?? `${res.status} ${res.statusText}`, res.status, j.errorType ?? '');
  }
  return { data: j.data as T, warnings: j.warnings ?? [], infos: j.infos ?? [] };
}

/** Metric is a series' label set. */
export type Metric = Record<string, string>;

/** Sample is [unix seconds, "value"]. */
export type Sample = [number, string];

/** HistogramSample is [unix seconds, native histogram]. */
export type HistogramSample = [number, { count: string; sum: string }];

/** Series is one series of a vector or matrix answer. */
export interface Series {
  metric: Metric;
  value?: Sample;
  values?: Sample[];
  histogram?: HistogramSample;
  histograms?: HistogramSample[];
}

/** QueryData is the data of a query or query_range answer. */
export type QueryData =
  | { resultType: 'vector' | 'matrix'; result: Series[]; stats?: QueryStats }
  | { resultType: 'scalar' | 'string'; result: Sample; stats?: QueryStats };

/** QueryStats is the part of Prometheus' query stats the UI shows. */
export interface QueryStats {
  timings?: { evalTotalTime?: number; execTotalTime?: number };
  samples?: { totalQueryableSamples?: number; peakSamples?: number };
}

/** formatMetric writes a label set as PromQL writes a series: name{a="b"}. */
export function formatMetric(m: Metric): string {
  const name = m.__name__ ?? '';
  const rest = Object.keys(m)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`);
  if (rest.length === 0) return name || '{}';
  return `${name}{${rest.join(', ')}}`;
}
