// The tracker's REST API as the page reads it: JSON over GET, with the bearer token when the page
// was opened with #token=... (the tracker asks for one when it listens off loopback).

const TOKEN_KEY = 'ardea.tracker.token';

/** An answer other than 200, or no answer: carries what the tracker said so the page can show it. */
export class ApiError extends Error {
  constructor(message, { status, code, path } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.path = path;
  }
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function hasToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

/** GET `path` with `params` (undefined ones left out); resolves to the parsed JSON body. */
export async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) query.set(key, String(value));
  const search = query.toString();
  const url = search === '' ? path : `${path}?${search}`;
  const headers = { accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { headers, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(`the tracker did not answer ${path}: ${error.message}; is it still running?`, { path });
  }
  const text = await response.text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const said = body && typeof body.error === 'string' ? body.error : text.slice(0, 200) || response.statusText;
    const hint = response.status === 401 ? ' (open the page as <tracker>/#token=<token>; the tracker printed where its token is)' : '';
    throw new ApiError(`${path}: ${response.status} ${said}${hint}`, { status: response.status, code: body?.code, path });
  }
  if (body === undefined) throw new ApiError(`${path}: the tracker answered with no JSON`, { status: response.status, path });
  return body;
}
