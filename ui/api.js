// The API from the page: the session cookie travels by itself (HttpOnly, so
// the page never sees it); state-changing calls add X-VSL-CSRF.
let csrf = null;

// Who is signed in: { admin: bool, tenant: name or null }, from GET/POST
// /v1/session. The server decides what each may do; the console only uses
// this to offer the views a principal may use and to say who it is.
export const me = { admin: false, tenant: null };
function remember(s) {
  csrf = s.csrf;
  me.admin = s.admin === true;
  me.tenant = s.admin ? null : s.tenant;
}

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-VSL-CSRF'] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || 'http', e.message || 'HTTP ' + res.status, data);
  }
  return data;
}

export const get = (p) => call('GET', p);
export const post = (p, b) => call('POST', p, b === undefined ? {} : b);
export const del = (p) => call('DELETE', p);

export async function whoami() {
  const s = await get('/v1/session');
  remember(s);
  return s;
}

export async function signIn(token) {
  const s = await call('POST', '/v1/session', { token });
  remember(s);
  return s;
}

export async function signOut() {
  try { await del('/v1/session'); } finally { remember({ csrf: null, admin: false, tenant: null }); }
}
