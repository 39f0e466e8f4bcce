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
