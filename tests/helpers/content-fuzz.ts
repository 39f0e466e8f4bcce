// Content fuzzing: valid request bodies of every client-server route the spec describes (its
// OpenAPI request examples and schemas, and the event-schema examples for /send and /state), with
// one hostile value put at one nested position. Four classes of hostile value:
// - number: floats, -0, 1e308, 1e400, 2^53±1, 2^63, 2^64 (as raw JSON number text);
// - unicode: lone surrogates, NUL, non-characters, RTL marks, BOM, 64 KB strings (as values and keys);
// - depth: 2^k nested arrays or objects (k = 1..13) as a value;
// - duplicate-keys: an object member repeated with another value (before or after the original).
// Every 5xx is minimised (members off the mutated path are dropped while it still fails) and
// reported once per (route, class, position, value). Used by tests/reliability/content-fuzz.test.ts
// (short, in CI) and scripts/fuzz.ts (long runs against dist/hs with an RSS check, `make soak`).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { registerUser, type TestClient } from "./client.ts";

export const CLASSES = ["number", "unicode", "depth", "duplicate-keys"] as const;
export type FuzzClass = (typeof CLASSES)[number];

type Seg = string | number;
type Json = unknown;

/** Text emitted verbatim (numbers JSON.parse cannot keep, deep nesting). */
export class Raw {
  constructor(readonly text: string) {}
}
/** An object whose members may repeat. */
export class DupObj {
  constructor(readonly entries: Array<[string, unknown]>) {}
}

export function serialize(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof DupObj) return "{" + v.entries.map(([k, x]) => JSON.stringify(k) + ":" + serialize(x)).join(",") + "}";
  if (Array.isArray(v)) return "[" + v.map(serialize).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ":" + serialize(x)).join(",") + "}";
  }
  return JSON.stringify(v) ?? "null";
}

// ---------------------------------------------------------------- hostile values

interface Hostile {
  label: string;
  value: unknown;
}

const NUMBER_TEXTS = [
  "1.5",
  "3.0000000000000004",
  "0.1",
  "-0",
  "-0.0",
  "1E2",
  "1e308",
  "-1e308",
  "1e400",
  "5e-324",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740992",
  "-9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
];
export const NUMBERS: Hostile[] = NUMBER_TEXTS.map((t) => ({ label: `number ${t}`, value: new Raw(t) }));

const UNICODE_STRINGS: Array<[string, string]> = [
  ["lone high surrogate", "\ud800"],
  ["lone low surrogate", "\udfff"],
  ["lone surrogate inside", "a\udc00b"],
  ["NUL", "\u0000"],
  ["NUL inside", "a\u0000b"],
  ["non-character U+FFFF", "\uffff"],
  ["non-character U+FFFE", "\ufffe"],
  ["non-character U+FDD0", "\ufdd0"],
  ["non-character U+10FFFF", "\u{10ffff}"],
  ["RTL marks", "\u202e\u200fabc"],
  ["BOM", "\ufeff"],
  ["empty", ""],
  ["64 KB ASCII", "x".repeat(65536)],
  ["64 KB 2-byte UTF-8", "\u00e9".repeat(32768)],
  ["64 KB astral", "\u{1F600}".repeat(16384)],
];
export const UNICODE_VALUES: Hostile[] = UNICODE_STRINGS.map(([l, s]) => ({ label: `string ${l}`, value: s }));
/** Short ones only as keys (a 64 KB key is the same test as a 64 KB value, with a bigger body). */
export const UNICODE_KEYS = UNICODE_STRINGS.filter(([, s]) => s.length <= 8);

export const DEPTHS: Hostile[] = [];
for (let k = 1; k <= 13; k++) {
  const n = 2 ** k;
  DEPTHS.push({ label: `depth 2^${k} arrays`, value: new Raw("[".repeat(n) + "]".repeat(n)) });
  DEPTHS.push({ label: `depth 2^${k} objects`, value: new Raw('{"a":'.repeat(n - 1) + "{}" + "}".repeat(n - 1)) });
}

const DUP_VALUES: unknown[] = [1, "dup", {}, [], null, true, "\ud800", new Raw("1.5")];

// ---------------------------------------------------------------- cases from the spec

export interface FuzzCase {
  method: "PUT" | "POST";
  /** Path template with {param}s, e.g. /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}. */
  path: string;
  /** Fixed parameter values for this case (eventType, stateKey from event examples). */
  params?: Record<string, string>;
  bases: Json[];
}

type Schema = Record<string, any>;

function yamlLoader() {
  const cache = new Map<string, any>();
  const load = (f: string) => {
    let d = cache.get(f);
    if (d === undefined) {
      const text = readFileSync(f, "utf8");
      d = f.endsWith(".json") ? JSON.parse(text) : Bun.YAML.parse(text);
      cache.set(f, d);
    }
    return d;
  };
  const deref = (s: Schema | undefined, file: string): [Schema | undefined, string] => {
    let cur = s;
    let f = file;
    for (let i = 0; i < 20 && cur && typeof cur.$ref === "string"; i++) {
      const [p, frag] = (cur.$ref as string).split("#");
      if (p) f = join(dirname(f), p);
      cur = (frag ?? "")
        .replace(/^\//, "")
        .split("/")
        .filter((x) => x !== "")
        .reduce((o: any, k) => o?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], load(f));
    }
    return [cur, f];
  };
  return { load, deref };
}

/** A valid-looking value for a schema (its example, else one built from its properties). */
function synthesize(schema0: Schema | undefined, file: string, l: ReturnType<typeof yamlLoader>, depth: number): unknown {
  const [schema, f] = l.deref(schema0, file);
  if (!schema || typeof schema !== "object") return "x";
  if (schema.example !== undefined) return schema.example;
  if (schema.examples && Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if (schema.enum?.length) return schema.enum[0];
  if (schema.allOf) {
    const out: Record<string, unknown> = {};
    for (const s of schema.allOf) {
      const v = synthesize(s, f, l, depth);
      if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, v);
    }
    return out;
  }
  for (const key of ["oneOf", "anyOf"]) if (Array.isArray(schema[key]) && schema[key].length) return synthesize(schema[key][0], f, l, depth);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object" || schema.properties) {
    const out: Record<string, unknown> = {};
    if (depth > 5) return out;
    for (const [k, s] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) out[k] = synthesize(s, f, l, depth + 1);
    return out;
  }
  if (type === "array") return depth > 5 ? [] : [synthesize(schema.items, f, l, depth + 1)];
  if (type === "integer" || type === "number") return 1;
  if (type === "boolean") return true;
  return "x";
}

function requestBodyBases(op: Schema, file: string, l: ReturnType<typeof yamlLoader>): Json[] {
  const [rb, f0] = l.deref(op.requestBody, file);
  const content = rb?.content?.["application/json"];
  if (!content) return [];
  const out: Json[] = [];
  if (content.example !== undefined) out.push(content.example);
  for (const ex of Object.values((content.examples ?? {}) as Record<string, { value?: unknown }>)) if (ex?.value !== undefined) out.push(ex.value);
  const [schema, f] = l.deref(content.schema, f0);
  if (schema?.example !== undefined) out.push(schema.example);
  const synth = synthesize(content.schema, f0, l, 0);
  void f;
  out.push(synth);
  // Distinct bases only.
  const seen = new Set<string>();
  return out.filter((b) => {
    const k = JSON.stringify(b);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Routes that end the fuzzer's session or membership; fuzzed by the route fuzzer without a token instead. */
const SKIP = /\/logout|\/account\/deactivate|\/delete_devices|\/rooms\/\{roomId\}\/(leave|forget)$|\/login\/get_token|\/account\/password$/;

export function loadCases(specDir: string): FuzzCase[] {
  const l = yamlLoader();
  const cases: FuzzCase[] = [];
  const csDir = join(specDir, "data/api/client-server");
  for (const name of readdirSync(csDir).filter((n) => n.endsWith(".yaml"))) {
    const file = join(csDir, name);
    const doc = l.load(file);
    const basePath: string = doc?.servers?.[0]?.variables?.basePath?.default ?? "/_matrix/client/v3";
    for (const [p, item] of Object.entries((doc?.paths ?? {}) as Record<string, Schema>)) {
      for (const method of ["put", "post"] as const) {
        const op = item[method];
        if (!op) continue;
        const path = basePath + p;
        if (SKIP.test(path)) continue;
        const bases = requestBodyBases(op, file, l);
        if (bases.length) cases.push({ method: method.toUpperCase() as "PUT" | "POST", path, bases });
      }
    }
  }
  // Events: one case per event-schema example, sent as a message or a state event.
  const exDir = join(specDir, "data/event-schemas/examples");
  const client = "/_matrix/client/v3";
  for (const name of readdirSync(exDir).filter((n) => n.endsWith(".yaml"))) {
    let ex: Schema;
    try {
      ex = l.load(join(exDir, name));
    } catch {
      continue;
    }
    if (!ex || typeof ex.type !== "string" || !ex.content || typeof ex.content !== "object") continue;
    if (ex.type === "m.room.create") continue;
    const isState = typeof ex.state_key === "string" || String(ex.$ref ?? "").includes("state_event");
    if (isState) {
      cases.push({
        method: "PUT",
        path: `${client}/rooms/{roomId}/state/{eventType}/{stateKey}`,
        params: { eventType: ex.type, stateKey: ex.type === "m.room.member" ? "{self}" : "" },
        bases: [ex.content],
      });
    } else {
      cases.push({ method: "PUT", path: `${client}/rooms/{roomId}/send/{eventType}/{txnId}`, params: { eventType: ex.type }, bases: [ex.content] });
    }
  }
  // Nested bodies that build events and that the examples leave empty.
  cases.push({
    method: "POST",
    path: `${client}/createRoom`,
    bases: [
      {
        name: "fuzz",
        topic: "fuzz",
        creation_content: { "m.federate": true, type: "m.space" },
        initial_state: [
          { type: "m.room.topic", state_key: "", content: { topic: "t" } },
          { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
        ],
        power_level_content_override: { events_default: 0, state_default: 50, events: { "m.room.name": 50 }, notifications: { room: 50 } },
      },
    ],
  });
  cases.push({ method: "PUT", path: `${client}/rooms/{roomId}/redact/{eventId}/{txnId}`, bases: [{ reason: "spam" }] });
  cases.push({ method: "PUT", path: `${client}/profile/{userId}/displayname`, bases: [{ displayname: "Fuzz" }] });
  cases.push({ method: "PUT", path: `${client}/profile/{userId}/avatar_url`, bases: [{ avatar_url: "mxc://localhost/abc" }] });
  cases.push({ method: "POST", path: `${client}/user_directory/search`, bases: [{ search_term: "fuzz", limit: 10 }] });
  cases.push({ method: "POST", path: `${client}/publicRooms`, bases: [{ limit: 10, filter: { generic_search_term: "fuzz", room_types: [null, "m.space"] } }] });
  cases.push({
    method: "POST",
    path: `${client}/search`,
    bases: [{ search_categories: { room_events: { search_term: "fuzz", keys: ["content.body"], filter: { limit: 5 }, order_by: "rank", event_context: { before_limit: 1, after_limit: 1, include_profile: true } } } }],
  });
  // Synapse-compatible admin APIs that build events or store client-chosen content.
  cases.push({ method: "POST", path: "/_synapse/admin/v1/send_server_notice", bases: [{ user_id: "{self}", content: { msgtype: "m.text", body: "notice" } }] });
  cases.push({ method: "PUT", path: "/_synapse/admin/v2/users/{otherUserId}", bases: [{ displayname: "Other", admin: false, user_type: null }] });
  cases.push({ method: "POST", path: "/_synapse/admin/v1/rooms/{roomId}/make_room_admin", bases: [{ user_id: "{self}" }] });
  return cases;
}

// ---------------------------------------------------------------- positions and mutations

function positions(v: unknown, path: Seg[] = [], out: Seg[][] = []): Seg[][] {
  if (out.length > 300) return out;
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => positions(x, [...path, i], out));
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) positions(x, [...path, k], out);
  return out;
}

function withAt(node: unknown, path: Seg[], f: (v: unknown) => unknown): unknown {
  if (path.length === 0) return f(node);
  const [h, ...rest] = path;
  if (Array.isArray(node)) {
    const c = node.slice();
    c[h as number] = withAt(node[h as number], rest, f);
    return c;
  }
  if (node !== null && typeof node === "object") {
    const entries = Object.entries(node as Record<string, unknown>).map(([k, x]): [string, unknown] => [k, k === h ? withAt(x, rest, f) : x]);
    return Object.fromEntries(entries);
  }
  return node;
}

export interface Mutation {
  cls: FuzzClass;
  /** Where the hostile value goes, e.g. `info.mimetype` or `initial_state[0].content`. */
  at: string;
  label: string;
  apply: (base: unknown) => unknown;
}

export function pathString(path: Seg[]): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  return s.startsWith(".") ? s.slice(1) : s || "(root)";
}

function pick<T>(xs: readonly T[], rand: () => number): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** One random mutation of `base` of class `cls`, or null when the class has nothing to do there. */
export function randomMutation(base: unknown, cls: FuzzClass, rand: () => number): Mutation | null {
  const all = positions(base);
  const pos = pick(all, rand);
  const target = pos.reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k as string], base);
  const isObj = target !== null && typeof target === "object" && !Array.isArray(target);
  const at = pathString(pos);
  const replace = (h: Hostile): Mutation => ({ cls, at, label: h.label, apply: (b) => withAt(b, pos, () => h.value) });
  const insertKey = (key: string, value: unknown, label: string): Mutation => ({
    cls,
    at: `${at} (new key)`,
    label,
    apply: (b) => withAt(b, pos, (o) => new DupObj([...Object.entries(o as Record<string, unknown>), [key, value]])),
  });
  switch (cls) {
    case "number":
      return rand() < 0.8 || !isObj ? replace(pick(NUMBERS, rand)) : ((h) => insertKey("fuzz", h.value, h.label))(pick(NUMBERS, rand));
    case "unicode": {
      if (isObj && rand() < 0.35) {
        const [l, k] = pick(UNICODE_KEYS, rand);
        return insertKey(k, "x", `key ${l}`);
      }
      return replace(pick(UNICODE_VALUES, rand));
    }
    case "depth":
      return rand() < 0.8 || !isObj ? replace(pick(DEPTHS, rand)) : ((h) => insertKey("fuzz", h.value, h.label))(pick(DEPTHS, rand));
    case "duplicate-keys": {
      // Needs an object with a member: the nearest one at or above the picked position.
      let p = pos;
      let obj: unknown = target;
      while (!(obj !== null && typeof obj === "object" && !Array.isArray(obj) && Object.keys(obj).length > 0)) {
        if (p.length === 0) return null;
        p = p.slice(0, -1);
        obj = p.reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k as string], base);
      }
      const keys = Object.keys(obj as object);
      const key = pick(keys, rand);
      const other = pick(DUP_VALUES, rand);
      const before = rand() < 0.5;
      return {
        cls,
        at: pathString([...p, key]),
        label: `duplicate key (${before ? "first" : "last"} is ${serialize(other).slice(0, 12)})`,
        apply: (b) =>
          withAt(b, p, (o) => {
            const entries = Object.entries(o as Record<string, unknown>);
            return new DupObj(before ? [[key, other], ...entries] : [...entries, [key, other]]);
          }),
      };
    }
  }
}

// ---------------------------------------------------------------- running

export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzTarget {
  url: string;
  serverName: string;
  sharedSecret: string;
}

export interface FuzzFinding {
  signature: string;
  count: number;
  status: number;
  response: string;
  /** The smallest body found that still fails. */
  minimised: string;
  request: string;
}

export interface FuzzReport {
  sent: number;
  byClass: Record<FuzzClass, { sent: number; fiveXx: number }>;
  findings: FuzzFinding[];
  transportErrors: string[];
  seconds: number;
}

interface World {
  token: string;
  self: string;
  other: string;
  device: string;
  room: string;
  event: string;
  login: () => Promise<void>;
}

async function setupWorld(t: FuzzTarget, tag: string): Promise<World> {
  const info = { url: t.url, serverName: t.serverName, config: { registration: { shared_secret: t.sharedSecret } } };
  const a: TestClient = await registerUser(info, `fuzz_${tag}`, "password", true);
  const b: TestClient = await registerUser(info, `fuzzb_${tag}`, "password");
  const room = (await a.ok<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_alias_name: `fuzz_${tag}` })).room_id;
  await b.ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/join`, {});
  const event = (await a.ok<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/seed`, { msgtype: "m.text", body: "seed" })).event_id;
  const world: World = {
    token: a.accessToken!,
    self: a.userId!,
    other: b.userId!,
    device: a.deviceId!,
    room,
    event,
    async login() {
      const r = await fetch(`${t.url}/_matrix/client/v3/login`, {
        method: "POST",
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: a.userId }, password: "password" }),
      });
      const j = (await r.json()) as { access_token?: string; device_id?: string };
      if (j.access_token) {
        world.token = j.access_token;
        world.device = j.device_id ?? world.device;
      }
    },
  };
  return world;
}

function fillPath(c: FuzzCase, w: World, serverName: string, rand: () => number): string {
  return c.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    let v = c.params?.[name];
    if (v === "{self}") v = w.self;
    if (v === undefined) {
      const txn = `f${Math.floor(rand() * 1e12).toString(36)}`;
      const byName: Record<string, string> = {
        roomId: w.room,
        roomIdOrAlias: w.room,
        eventId: w.event,
        userId: w.self,
        otherUserId: w.other,
        txnId: txn,
        eventType: "m.room.message",
        stateKey: "",
        type: "m.fuzz.data",
        tag: "u.fuzz",
        deviceId: w.device,
        roomAlias: `#fuzz-${txn}:${serverName}`,
        serverName,
        version: "1",
        scope: "global",
        kind: "override",
        ruleId: "fuzz.rule",
        keyName: "m.fuzz",
        receiptType: "m.read",
        threadId: "main",
        sessionId: "s",
        filterId: "0",
        mediaId: "fuzz",
      };
      v = byName[name] ?? "x";
    }
    return encodeURIComponent(v);
  });
}

/** Puts the fuzzing user's real IDs where a base body names users, so that valid bodies do something. */
function personalise(c: FuzzCase, base: unknown, w: World): unknown {
  let text = JSON.stringify(base).replaceAll('"{self}"', JSON.stringify(w.self));
  if (c.params?.eventType === "m.room.power_levels") {
    const pl = JSON.parse(text) as { users?: Record<string, number> };
    pl.users = { ...(pl.users ?? {}), [w.self]: 100 };
    text = JSON.stringify(pl);
  }
  return JSON.parse(text);
}

/** The route template with a hs-relevant name for reports. */
function routeName(c: FuzzCase): string {
  const p = c.params?.eventType ? c.path.replace("{eventType}", c.params.eventType) : c.path;
  return `${c.method} ${p}`;
}

export interface RunOptions {
  requests: number;
  seed?: number;
  concurrency?: number;
  /** Called every `progressEvery` requests (for RSS sampling). */
  onProgress?: (sent: number) => void | Promise<void>;
  progressEvery?: number;
  /** Restrict to these classes (default: all). */
  classes?: readonly FuzzClass[];
}

export async function runContentFuzz(t: FuzzTarget, cases: FuzzCase[], opts: RunOptions): Promise<FuzzReport> {
  const started = Date.now();
  const rand = prng(opts.seed ?? 0xc0ffee);
  const w = await setupWorld(t, Math.floor(rand() * 1e9).toString(36));
  const classes = opts.classes ?? CLASSES;
  const byClass = Object.fromEntries(CLASSES.map((c) => [c, { sent: 0, fiveXx: 0 }])) as FuzzReport["byClass"];
  const findings = new Map<string, FuzzFinding>();
  const transportErrors: string[] = [];
  let sent = 0;
  let issued = 0;

  const send = async (c: FuzzCase, body: string): Promise<{ status: number; text: string } | null> => {
    const url = t.url + fillPath(c, w, t.serverName, rand);
    for (let attempt = 0; attempt < 2; attempt++) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), 30_000);
      try {
        const res = await fetch(url, { method: c.method, headers: { "Content-Type": "application/json", Authorization: `Bearer ${w.token}` }, body, signal: ctrl.signal });
        const text = await res.text();
        if (res.status === 401 && text.includes("M_UNKNOWN_TOKEN") && attempt === 0) {
          await w.login();
          continue;
        }
        return { status: res.status, text };
      } catch (e) {
        if (transportErrors.length < 50) transportErrors.push(`${routeName(c)}: ${(e as Error).name === "AbortError" ? "hung 30 s" : (e as Error).message}`);
        return null;
      } finally {
        clearTimeout(timer);
      }
    }
    return null;
  };

  const minimise = async (c: FuzzCase, base: unknown, m: Mutation): Promise<string> => {
    // Drop members (and array elements) one at a time while the request still fails with a 5xx.
    let cur = base;
    let budget = 25;
    let changed = true;
    while (changed && budget > 0) {
      changed = false;
      for (const p of positions(cur).slice(1).reverse()) {
        if (budget-- <= 0) break;
        const parent = p.slice(0, -1);
        const last = p[p.length - 1]!;
        const candidate = withAt(cur, parent, (o) =>
          Array.isArray(o) ? o.filter((_, i) => i !== last) : Object.fromEntries(Object.entries(o as object).filter(([k]) => k !== last)),
        );
        let body: string;
        try {
          body = serialize(m.apply(candidate));
        } catch {
          continue;
        }
        if (body === serialize(m.apply(cur))) continue;
        const r = await send(c, body);
        if (r && r.status >= 500) {
          cur = candidate;
          changed = true;
          break;
        }
      }
    }
    const text = serialize(m.apply(cur));
    return text.length > 300 ? text.slice(0, 300) + `… (${text.length} chars)` : text;
  };

  const one = async () => {
    const c = pick(cases, rand);
    const base = personalise(c, pick(c.bases, rand), w);
    const cls = pick(classes, rand);
    const m = randomMutation(base, cls, rand);
    if (!m) return;
    const body = serialize(m.apply(base));
    const r = await send(c, body);
    sent++;
    byClass[cls].sent++;
    if (!r) return;
    if (r.status >= 500) {
      byClass[cls].fiveXx++;
      const signature = `${routeName(c)} [${cls}] at ${m.at}: ${m.label}`;
      const f = findings.get(signature);
      if (f) f.count++;
      else {
        const finding: FuzzFinding = { signature, count: 1, status: r.status, response: r.text.slice(0, 200), minimised: "", request: body.slice(0, 300) };
        findings.set(signature, finding);
        finding.minimised = await minimise(c, base, m);
      }
    }
    if (opts.onProgress && opts.progressEvery && sent % opts.progressEvery === 0) await opts.onProgress(sent);
  };

  await Promise.all(
    Array.from({ length: opts.concurrency ?? 8 }, async () => {
      while (issued < opts.requests) {
        issued++;
        await one();
      }
    }),
  );
  return { sent, byClass, findings: [...findings.values()], transportErrors, seconds: (Date.now() - started) / 1000 };
}

export function formatReport(r: FuzzReport, label = ""): string {
  const lines = [`content fuzz ${label}: ${r.sent} requests in ${r.seconds.toFixed(1)} s`];
  for (const c of CLASSES) lines.push(`  ${c.padEnd(15)} ${String(r.byClass[c].sent).padStart(6)} sent, ${r.byClass[c].fiveXx} 5xx`);
  lines.push(`  distinct 5xx findings: ${r.findings.length}; transport errors: ${r.transportErrors.length}`);
  for (const f of r.findings.sort((a, b) => b.count - a.count)) {
    lines.push(`  - ${f.count}× ${f.signature} → ${f.status} ${f.response.slice(0, 100)}`);
    lines.push(`      minimised: ${f.minimised}`);
  }
  for (const e of r.transportErrors.slice(0, 10)) lines.push(`  ! ${e}`);
  return lines.join("\n");
}
