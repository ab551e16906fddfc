// Calls to wicketd's API. The session cookie is HttpOnly and goes by itself; state-changing
// requests carry the CSRF token the server gave with the session.

export interface Session { user: string; is_admin: boolean; mfa: boolean; expires_at: number; csrf: string }
export interface Target {
  id: string; name: string; tags: Record<string, string>; online: boolean;
  last_seen: number | null; hostname?: string | null; os?: string | null; may_connect: boolean;
}

export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly mfaRequired = false) { super(message); }
}

let csrf = "";
export function setCsrf(token: string) { csrf = token; }

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-wicket-csrf"] = csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data: any = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: an error page */ }
  if (!r.ok) {
    throw new ApiError(data?.error ?? `wicketd answered ${r.status}`, r.status, !!data?.mfa_required);
  }
  return data as T;
}
