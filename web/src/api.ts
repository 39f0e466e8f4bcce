// A small Matrix Client-Server and Synapse-admin API client: fetch with the access token, Matrix
// errors as exceptions, user-interactive auth, media. The web client talks to the server that
// served it (same origin), only through these public APIs.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json | JsonObject | undefined };

export class MatrixApiError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly data: JsonObject = {},
  ) {
    super(message);
  }
  /** The endpoint does not exist on this server (yet). */
  get unsupported(): boolean {
    return this.errcode === "M_UNRECOGNIZED" && (this.status === 404 || this.status === 405);
  }
}

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
export const obj = (v: unknown): JsonObject => (v && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {});
export const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

export interface Session {
  userId: string;
  accessToken: string;
  deviceId: string;
}

export type Query = Record<string, string | number | boolean | undefined>;

const enc = encodeURIComponent;

export class Api {
  session: Session | undefined;
  /** Called when the server says the access token is no longer valid. */
  onLoggedOut: (() => void) | undefined;

  constructor(readonly baseUrl: string = location.origin) {}

  url(path: string, query?: Query): string {
    const u = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async raw(method: string, path: string, opts: { query?: Query; body?: BodyInit; contentType?: string; signal?: AbortSignal; auth?: boolean } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false && this.session) headers.Authorization = `Bearer ${this.session.accessToken}`;
    if (opts.contentType) headers["Content-Type"] = opts.contentType;
    return fetch(this.url(path, opts.query), { method, headers, body: opts.body, signal: opts.signal });
  }

  async request<T = JsonObject>(method: string, path: string, body?: unknown, opts: { query?: Query; signal?: AbortSignal; auth?: boolean } = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.raw(method, path, {
        ...opts,
        body: body === undefined ? undefined : JSON.stringify(body),
        contentType: body === undefined ? undefined : "application/json",
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new MatrixApiError(0, "M_CONNECTION", "Cannot reach the server. Check your connection.");
    }
    return this.parse<T>(res);
  }

  async parse<T>(res: Response): Promise<T> {
    let data: unknown;
    const text = await res.text();
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = {};
    }
    if (!res.ok) {
      const d = obj(data);
      const err = new MatrixApiError(res.status, str(d.errcode) ?? `HTTP_${res.status}`, str(d.error) ?? `${res.status} ${res.statusText}`, d);
      if (err.errcode === "M_UNKNOWN_TOKEN" && this.session && !d.soft_logout) this.onLoggedOut?.();
      throw err;
    }
    return data as T;
  }

  get = <T = JsonObject>(path: string, query?: Query, signal?: AbortSignal) => this.request<T>("GET", path, undefined, { query, signal });
  post = <T = JsonObject>(path: string, body: unknown = {}, query?: Query) => this.request<T>("POST", path, body, { query });
  put = <T = JsonObject>(path: string, body: unknown = {}, query?: Query) => this.request<T>("PUT", path, body, { query });
  del = <T = JsonObject>(path: string, body?: unknown, query?: Query) => this.request<T>("DELETE", path, body, { query });

  // ---- accounts

  /** Signs in; with `deviceId` (this browser's earlier device, whose keys it kept) to that device again. */
  async login(user: string, password: string, deviceId?: string): Promise<Session> {
    const r = await this.request("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password,
      initial_device_display_name: deviceName(),
      ...(deviceId ? { device_id: deviceId } : {}),
    }, { auth: false });
    return { userId: str(r.user_id)!, accessToken: str(r.access_token)!, deviceId: str(r.device_id)! };
  }

  /** The registration flows the server offers, or null when registration is closed. */
  async registrationFlows(): Promise<{ flows: string[][]; session?: string } | null> {
    try {
      await this.request("POST", "/_matrix/client/v3/register", {}, { auth: false });
      return { flows: [[]] };
    } catch (e) {
      if (e instanceof MatrixApiError && e.status === 401) {
        const flows = arr(e.data.flows).map((f) => arr(obj(f).stages).map((s) => String(s)));
        return { flows, session: str(e.data.session) };
      }
      if (e instanceof MatrixApiError && e.status === 403) return null;
      throw e;
    }
  }

  /** Registers with user-interactive auth: registration token and/or dummy stages. */
  async register(username: string, password: string, token?: string): Promise<Session> {
    const body: JsonObject = { username, password, initial_device_display_name: deviceName(), inhibit_login: false };
    let auth: JsonObject | undefined;
    for (let round = 0; round < 5; round++) {
      try {
        const r = await this.request("POST", "/_matrix/client/v3/register", auth ? { ...body, auth } : body, { auth: false });
        return { userId: str(r.user_id)!, accessToken: str(r.access_token)!, deviceId: str(r.device_id)! };
      } catch (e) {
        if (!(e instanceof MatrixApiError) || e.status !== 401 || !e.data.flows) throw e;
        const session = str(e.data.session);
        const done = arr(e.data.completed).map(String);
        if (e.data.errcode) throw e; // a stage failed (e.g. wrong token)
        const flows = arr(e.data.flows).map((f) => arr(obj(f).stages).map(String));
        const flow = flows.find((f) => f.every((s) => s === "m.login.dummy" || (s === "m.login.registration_token" && token))) ?? flows[0];
        const next = flow?.find((s) => !done.includes(s));
        if (!next) throw e;
        if (next === "m.login.registration_token") {
          if (!token) throw new MatrixApiError(401, "HS_TOKEN_REQUIRED", "This server needs a registration token to sign up.");
          auth = { type: next, token, session };
        } else if (next === "m.login.dummy") auth = { type: next, session };
        else throw new MatrixApiError(401, "HS_UNSUPPORTED_STAGE", `This server asks for ${next}, which this client cannot do.`);
      }
    }
    throw new MatrixApiError(401, "M_FORBIDDEN", "Registration did not complete.");
  }

  /** Runs a request that may need user-interactive auth, answering with the account password. */
  async withPassword<T>(method: string, path: string, body: JsonObject, password: string): Promise<T> {
    try {
      return await this.request<T>(method, path, body);
    } catch (e) {
      if (!(e instanceof MatrixApiError) || e.status !== 401 || !e.data.flows) throw e;
      const auth = {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: this.session!.userId },
        password,
        session: str(e.data.session),
      };
      return this.request<T>(method, path, { ...body, auth });
    }
  }

  // ---- media

  async upload(file: Blob, filename: string): Promise<string> {
    let res: Response;
    try {
      res = await this.raw("POST", "/_matrix/media/v3/upload", { query: { filename }, body: file, contentType: file.type || "application/octet-stream" });
    } catch {
      throw new MatrixApiError(0, "M_CONNECTION", "Cannot reach the server. Check your connection.");
    }
    const r = await this.parse<JsonObject>(res);
    const uri = str(r.content_uri);
    if (!uri) throw new MatrixApiError(500, "M_UNKNOWN", "The server did not return a content URI");
    return uri;
  }

  private blobCache = new Map<string, Promise<string>>();

  /** An object URL for mxc:// media (authenticated download, or a thumbnail when a size is given). */
  mediaUrl(mxc: string, size?: { w: number; h: number; method?: "crop" | "scale" }): Promise<string> {
    const key = `${mxc}|${size ? `${size.w}x${size.h}${size.method ?? "scale"}` : ""}`;
    let p = this.blobCache.get(key);
    if (!p) {
      p = this.fetchMedia(mxc, size).then((b) => URL.createObjectURL(b));
      p.catch(() => this.blobCache.delete(key));
      this.blobCache.set(key, p);
    }
    return p;
  }

  async fetchMedia(mxc: string, size?: { w: number; h: number; method?: "crop" | "scale" }): Promise<Blob> {
    const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
    if (!m) throw new MatrixApiError(400, "M_INVALID_PARAM", "Not an mxc:// URI");
    const [, server, id] = m;
    const tail = `${enc(server!)}/${enc(id!)}`;
    const attempts: Array<[string, Query | undefined]> = [];
    if (size) attempts.push([`/_matrix/client/v1/media/thumbnail/${tail}`, { width: size.w, height: size.h, method: size.method ?? "scale" }]);
    attempts.push([`/_matrix/client/v1/media/download/${tail}`, undefined]);
    attempts.push([`/_matrix/media/v3/download/${tail}`, undefined]);
    let last: unknown;
    for (const [path, query] of attempts) {
      try {
        const res = await this.raw("GET", path, { query });
        if (res.ok) return await res.blob();
        last = await this.parse(res).catch((e: unknown) => e);
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof Error ? last : new MatrixApiError(404, "M_NOT_FOUND", "Media not found");
  }
}

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return `Web client (${browser}${os ? ` on ${os}` : ""})`;
}

export const paths = {
  room: (roomId: string) => `/_matrix/client/v3/rooms/${enc(roomId)}`,
  profile: (userId: string) => `/_matrix/client/v3/profile/${enc(userId)}`,
  enc,
};
