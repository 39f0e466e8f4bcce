// Benchmark: state resolution of two forks of a 30,000-member room, and auth check throughput.
// Run: ./node_modules/.bin/bun bench/core-state-res.ts [members] [conflicts-per-branch]
// Prints `name value` lines.

import type { JsonObject, RoomEvent } from "../src/protocol/events.ts";
import { selectAuthEvents } from "../src/core/auth-events.ts";
import { checkAuth } from "../src/core/auth-rules.ts";
import { getRoomVersion, type RoomVersion } from "../src/core/room-versions.ts";
import { resolveState, type EventSource } from "../src/core/state-res.ts";
import { eventStateMapKey, type StateMap } from "../src/core/state-map.ts";

const MEMBERS = Number(process.argv[2] ?? 30_000);
const CONFLICTS = Number(process.argv[3] ?? 300);

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Room {
  rv: RoomVersion;
  roomId: string;
  events: Map<string, RoomEvent>;
}

class Builder {
  ts = 1_700_000_000_000;
  n = 0;
  constructor(readonly room: Room) {}
  add(state: StateMap<string>, prev: RoomEvent | undefined, sender: string, type: string, stateKey: string | undefined, content: JsonObject): RoomEvent {
    const { rv } = this.room;
    const isCreate = type === "m.room.create";
    const fields = stateKey === undefined ? { type, sender, content } : { type, sender, content, state_key: stateKey };
    const id = `$e${this.n++}_${type.slice(7, 11)}:bench.example`;
    const ev: RoomEvent = {
      event_id: id,
      ...(isCreate && rv.roomIdFromCreateEvent ? {} : { room_id: this.room.roomId }),
      sender,
      type,
      ...(stateKey === undefined ? {} : { state_key: stateKey }),
      content,
      origin_server_ts: this.ts++,
      depth: prev ? prev.depth + 1 : 1,
      prev_events: prev ? [prev.event_id] : [],
      auth_events: isCreate ? [] : selectAuthEvents(fields, state, rv),
      hashes: { sha256: "x" },
      signatures: { "bench.example": { "ed25519:a": "x" } },
    };
    this.room.events.set(id, ev);
    const k = eventStateMapKey(ev);
    if (k !== undefined) state.set(k, id);
    return ev;
  }
}

const user = (i: number) => `@u${i}:bench.example`;
const ADMIN = "@admin:bench.example";
const MOD = "@mod:bench.example";

function generate(version: string): { room: Room; a: StateMap<string>; b: StateMap<string>; base: StateMap<string> } {
  const rv = getRoomVersion(version);
  const room: Room = { rv, roomId: "!bench:bench.example", events: new Map() };
  const bld = new Builder(room);
  const state: StateMap<string> = new Map();
  const create = bld.add(state, undefined, ADMIN, "m.room.create", "", rv.implicitRoomCreator ? { room_version: version } : { room_version: version, creator: ADMIN });
  if (rv.roomIdFromCreateEvent) {
    room.roomId = "!" + create.event_id.slice(1);
    // Re-key: events after the create event carry the derived room ID.
  }
  let tip = bld.add(state, create, ADMIN, "m.room.member", ADMIN, { membership: "join" });
  const users: JsonObject = rv.privilegedCreators ? { [MOD]: 50 } : { [ADMIN]: 100, [MOD]: 50 };
  tip = bld.add(state, tip, ADMIN, "m.room.power_levels", "", { users, users_default: 0, state_default: 50, ban: 50, kick: 50 });
  tip = bld.add(state, tip, ADMIN, "m.room.join_rules", "", { join_rule: "public" });
  tip = bld.add(state, tip, MOD, "m.room.member", MOD, { membership: "join" });
  for (let i = 0; i < MEMBERS; i++) tip = bld.add(state, tip, user(i), "m.room.member", user(i), { membership: "join" });
  for (let i = 0; i < 50; i++) tip = bld.add(state, tip, user(i), "m.room.message", undefined, { body: "hi" });
  const base = new Map(state);
  const forkPoint = tip;

  // Branch A: the admin bans and kicks, changes power levels, join rules and the topic; members
  // leave on their own.
  const rnd = rng(42);
  const a = new Map(base);
  let ta = forkPoint;
  for (let i = 0; i < CONFLICTS; i++) {
    const r = rnd();
    const target = user(Math.floor(rnd() * MEMBERS));
    if (r < 0.35) ta = bld.add(a, ta, ADMIN, "m.room.member", target, { membership: "ban" });
    else if (r < 0.55) ta = bld.add(a, ta, ADMIN, "m.room.member", target, { membership: "leave" });
    else if (r < 0.7) ta = bld.add(a, ta, target, "m.room.member", target, { membership: "leave" });
    else if (r < 0.8) {
      const u: JsonObject = rv.privilegedCreators ? { [MOD]: 50 } : { [ADMIN]: 100, [MOD]: 50 };
      u[target] = Math.floor(rnd() * 50);
      ta = bld.add(a, ta, ADMIN, "m.room.power_levels", "", { users: u, users_default: 0, state_default: 50, ban: 50, kick: 50 });
    } else if (r < 0.85) ta = bld.add(a, ta, ADMIN, "m.room.join_rules", "", { join_rule: rnd() < 0.5 ? "invite" : "public" });
    else ta = bld.add(a, ta, ADMIN, "m.room.topic", "", { topic: `a${i}` });
  }

  // Branch B: the moderator kicks, members change profiles, new users join, the moderator sets
  // the topic and the name.
  const b = new Map(base);
  let tb = forkPoint;
  let newcomers = 0;
  for (let i = 0; i < CONFLICTS; i++) {
    const r = rnd();
    const target = user(Math.floor(rnd() * MEMBERS));
    if (r < 0.3) tb = bld.add(b, tb, MOD, "m.room.member", target, { membership: "leave" });
    else if (r < 0.6) tb = bld.add(b, tb, target, "m.room.member", target, { membership: "join", displayname: `n${i}` });
    else if (r < 0.85) {
      const u = user(MEMBERS + newcomers++);
      tb = bld.add(b, tb, u, "m.room.member", u, { membership: "join" });
    } else if (r < 0.95) tb = bld.add(b, tb, MOD, "m.room.topic", "", { topic: `b${i}` });
    else tb = bld.add(b, tb, MOD, "m.room.name", "", { name: `b${i}` });
  }
  return { room, a, b, base };
}

function source(room: Room): EventSource {
  return {
    async getEvents(ids) {
      const out = new Map<string, RoomEvent>();
      for (const id of ids) {
        const e = room.events.get(id);
        if (e) out.set(id, e);
      }
      return out;
    },
  };
}

async function timeResolve(version: string): Promise<{ ms: number; size: number; conflicted: number }> {
  const { room, a, b } = generate(version);
  let conflicted = 0;
  for (const [k, v] of a) if (b.get(k) !== v) conflicted++;
  for (const k of b.keys()) if (!a.has(k)) conflicted++;
  const src = source(room);
  // Warm up the JIT once, then take the median of five runs.
  await resolveState(room.rv, [a, b], src);
  const times: number[] = [];
  let size = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const s = await resolveState(room.rv, [a, b], src);
    times.push(performance.now() - t0);
    size = s.size;
  }
  times.sort((x, y) => x - y);
  return { ms: times[2]!, size, conflicted };
}

function authThroughput(version: string): number {
  const { room, base } = generate(version);
  const state: StateMap<RoomEvent> = new Map();
  for (const [k, id] of base) state.set(k, room.events.get(id)!);
  const probes: RoomEvent[] = [];
  const template = room.events.get(base.values().next().value!)!;
  for (let i = 0; i < 1000; i++) {
    const u = user(i * 29 % MEMBERS);
    const kind = i % 4;
    const common = { ...template, event_id: `$probe${i}`, room_id: room.roomId, sender: u, prev_events: [], auth_events: [] };
    if (kind === 0) probes.push({ ...common, type: "m.room.message", content: { body: "x" }, state_key: undefined });
    else if (kind === 1) probes.push({ ...common, type: "m.room.member", state_key: u, content: { membership: "join", displayname: "x" } });
    else if (kind === 2) probes.push({ ...common, type: "m.room.member", state_key: user(i), content: { membership: "invite" } });
    else probes.push({ ...common, sender: MOD, type: "m.room.member", state_key: u, content: { membership: "ban" } });
  }
  let ok = 0;
  for (const p of probes) if (checkAuth(p, state, room.rv).allowed) ok++; // warm-up
  const N = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (checkAuth(probes[i % probes.length]!, state, room.rv).allowed) ok++;
  const s = (performance.now() - t0) / 1000;
  if (ok === 0) throw new Error("nothing passed auth");
  return Math.round(N / s);
}

for (const version of ["10", "12"]) {
  const { ms, size, conflicted } = await timeResolve(version);
  const suffix = version === "10" ? "" : `_v${version}`;
  console.log(`state_res_30k_fork${suffix}_ms ${ms.toFixed(1)}`);
  console.log(`# v${version}: ${MEMBERS} members, ${CONFLICTS} state events per branch, ${conflicted} conflicted keys, ${size} resolved state entries`);
}
{
  const { room, a, b } = generate("1");
  const t0 = performance.now();
  await resolveState(room.rv, [a, b], source(room));
  console.log(`state_res_30k_fork_v1_ms ${(performance.now() - t0).toFixed(1)}`);
}
console.log(`auth_check_per_s ${authThroughput("10")}`);
