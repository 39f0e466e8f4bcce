// A tiny HTTP client for tests: JSON in, JSON out, and Matrix error expectations.
import { expect } from "bun:test";

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class TestClient {
  constructor(
    readonly baseUrl: string,
    public accessToken?: string,
    public userId?: string,
    public deviceId?: string,
  ) {}

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.accessToken && !("Authorization" in h)) h.Authorization = `Bearer ${this.accessToken}`;
    let payload: BodyInit | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body);
      h["Content-Type"] ??= "application/json";
    }
    const res = await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: leave as text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.request<T>("GET", path);
  }
  post<T = any>(path: string, body: unknown = {}) {
    return this.request<T>("POST", path, body);
  }
  put<T = any>(path: string, body: unknown = {}) {
    return this.request<T>("PUT", path, body);
  }
  delete<T = any>(path: string, body?: unknown) {
    return this.request<T>("DELETE", path, body);
  }

  /** Asserts a 2xx answer and returns its body. */
  async ok<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request<T>(method, path, body);
    if (r.status < 200 || r.status >= 300) {
      throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r.body;
  }
}

/** Asserts a Matrix error response with this status and errcode. */
export function expectError(r: ApiResponse, status: number, errcode: string): void {
  if (r.status !== status || r.body?.errcode !== errcode) {
    throw new Error(`expected ${status} ${errcode}, got ${r.status} ${JSON.stringify(r.body)}`);
  }
  expect(typeof r.body.error).toBe("string");
}

// ---- accounts (issue 4): users created through the shared-secret admin API, logins, UIA.

/** What the account helpers need of a test server (a TestServer fits). */
export interface AccountServer {
  url: string;
  serverName: string;
  config: { registration: { shared_secret: string } };
}

let userCounter = 0;
/** A fresh localpart: `prefix` plus a counter and random suffix (unique within a run). */
export function uniqueLocalpart(prefix = "user"): string {
  return `${prefix}${++userCounter}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Creates a user through the shared-secret registration API (as `hs register-user` does) and
 * returns a TestClient logged in as that user on a new device.
 */
export async function registerUser(server: AccountServer, name: string, password = "password", admin = false): Promise<TestClient> {
  const { sharedSecretMac } = await import("../../src/services/registration.ts");
  const anon = new TestClient(server.url);
  const nonce = (await anon.ok<{ nonce: string }>("GET", "/_synapse/admin/v1/register")).nonce;
  const mac = sharedSecretMac(server.config.registration.shared_secret, nonce, name, password, admin);
  const res = await anon.ok<{ user_id: string; access_token: string; device_id: string }>("POST", "/_synapse/admin/v1/register", {
    nonce,
    username: name,
    password,
    admin,
    mac,
  });
  return new TestClient(server.url, res.access_token, res.user_id, res.device_id);
}

/** Logs in with a password (localpart or user ID); returns a client on a new (or the given) device. */
export async function loginUser(server: { url: string }, user: string, password = "password", extra: Record<string, unknown> = {}): Promise<TestClient> {
  const anon = new TestClient(server.url);
  const res = await anon.ok<{ user_id: string; access_token: string; device_id: string }>("POST", "/_matrix/client/v3/login", {
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    ...extra,
  });
  return new TestClient(server.url, res.access_token, res.user_id, res.device_id);
}

/**
 * Performs a request protected by user-interactive authentication with the client's password:
 * the first attempt must answer 401 with a session, the second carries m.login.password auth.
 * Returns the final response.
 */
export async function withPasswordAuth<T = any>(
  client: TestClient,
  method: string,
  path: string,
  body: Record<string, unknown> = {},
  password = "password",
): Promise<ApiResponse<T>> {
  const first = await client.request(method, path, body);
  if (first.status !== 401 || typeof first.body?.session !== "string") {
    throw new Error(`expected a 401 UIA challenge from ${method} ${path}, got ${first.status} ${JSON.stringify(first.body)}`);
  }
  return client.request<T>(method, path, {
    ...body,
    auth: { type: "m.login.password", identifier: { type: "m.id.user", user: client.userId }, password, session: first.body.session },
  });
}
