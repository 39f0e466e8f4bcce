// Process-local state kept right when several hs processes share one PostgreSQL database
// (docs/SCALING.md). One list, like event-effects.ts: every in-memory cache that a write in
// another process can make stale is invalidated here, through the cluster bus.
//
//   access tokens (auth.ts)            forget(hashes) / forgetUser(user) run in every process
//   account-data hooks                 push rules, ignored users, invite permission caches
//   events persisted elsewhere         ("event" channel, one message per timeline event):
//     the room's head (room-heads.ts)  forgetRoom(room): current-state keys, extremities, group
//     local memberships (events.ts)    membershipChanged(user, room)
//     redacted events (events.ts)      dropCachedEvent(target)
//     room member counts (push.ts)     forgetMemberCount(room)
//     published room entries           roomDirectory.invalidate(room) for state events
//     sliding sync room recency        slidingSync.noteEvent(room, type, key, content, stream)
//     remote profiles                  remoteProfiles.invalidate(user) for remote member events
//     servers in a room (federation)   forgetServersInRoom(room) for member events (whom PDUs go to)
//     typing                           stop(room, user) when they leave
//   typing (typing.ts)                 replicated: every change applied by every process
//   OpenID tokens (openid.ts)          replicated: every process keeps every token
//   stream positions, /sync wake-ups   streams.ts and notifier.ts share() themselves
// After a bus reconnection (messages may have been missed) every trimmable cache of the process
// is emptied (trimCaches(0), as the memory guard does under pressure).
//
// Not here, on purpose: caches of what never changes (state groups, room versions, filters,
// server keys), and state that is per process by design (rate-limit buckets: each process counts
// its own share; /hierarchy sessions: see docs/SCALING.md). Sliding-sync connections are stored
// in the database instead (SlidingSync.shareConnections).
import type { RoomEvent } from "../../protocol/events.ts";
import type { ClusterBus } from "./bus.ts";
import type { AccountDataHook } from "../account-data.ts";
import type { Typing } from "../typing.ts";
import type { EventEffects } from "../event-effects.ts";
import { trimCaches } from "../../util/lru.ts";

export interface SharedCachesDeps {
  bus: ClusterBus;
  serverName: string;
  effects: EventEffects;
  auth: { forget(hashes: readonly string[]): void; forgetUser(userId: string): void };
  accountDataHooks: AccountDataHook[];
  events: { membershipChanged(userId: string, roomId: string): void; dropCachedEvent(eventId: string): void; forgetRoom(roomId: string): void };
  push: { forgetMemberCount(roomId: string): void };
  roomDirectory: { invalidate(roomId: string): void };
  slidingSync: { noteEvent(roomId: string, type: string, stateKey: string | undefined, content: Record<string, unknown>, stream: number): void };
  remoteProfiles: { invalidate(userId: string): void };
  roomFederation: { forgetServersInRoom(roomId: string): void };
  typing: Typing;
  openId: { onIssued?: (token: string, userId: string, expiresTs: number) => void; adopt(token: string, userId: string, expiresTs: number): void };
}

/** What the "event" channel carries of a persisted event (a NOTIFY payload stays small). */
interface EventNote {
  r: string;
  t: string;
  k?: string;
  s: number;
  /** membership, for member events */
  m?: string;
  /** the redacted event, for redactions */
  x?: string;
  /** the content fields sliding sync reads (m.room.encryption algorithm, m.room.create type) */
  c?: Record<string, unknown>;
}

/**
 * Wires the invalidations above. `effects` gets the afterPersist rule "cluster.announce"; call
 * with `bus.shared` true only (one process: the rule is set to null by the caller).
 */
export function shareCaches(d: SharedCachesDeps): void {
  const { bus } = d;
  const local = (userId: string) => userId.endsWith(`:${d.serverName}`);

  // Access tokens: a logout or a deactivation in one process ends the token everywhere.
  const forget = d.auth.forget.bind(d.auth);
  const forgetUser = d.auth.forgetUser.bind(d.auth);
  const tokens = bus.channel<{ h?: string[]; u?: string }>("auth.forget");
  tokens.subscribe((m) => {
    if (m.h) forget(m.h);
    if (m.u) forgetUser(m.u);
  });
  d.auth.forget = (hashes) => tokens.publish({ h: [...hashes] });
  d.auth.forgetUser = (userId) => tokens.publish({ u: userId });

  // Account data: the hooks (cache invalidations) run in every process.
  const hooks = d.accountDataHooks.splice(0);
  const accountData = bus.channel<{ u: string; r: string; t: string }>("account_data");
  accountData.subscribe((m) => {
    for (const h of hooks) h(m.u, m.r, m.t);
  });
  d.accountDataHooks.push((u, r, t) => accountData.publish({ u, r, t }));

  // Events persisted here: what the other processes cache about their room.
  const events = bus.channel<EventNote>("event");
  events.subscribe((n, origin) => {
    if (origin === "local") return;
    // A send here checks the extremities in its transaction anyway (RoomMovedOn): this spares the retry.
    d.events.forgetRoom(n.r);
    if (n.k !== undefined) d.roomDirectory.invalidate(n.r);
    if (n.t === "m.room.member" && n.k !== undefined) {
      d.push.forgetMemberCount(n.r);
      d.roomFederation.forgetServersInRoom(n.r);
      if (local(n.k)) d.events.membershipChanged(n.k, n.r);
      else d.remoteProfiles.invalidate(n.k);
      if (n.m !== "join") d.typing.stop(n.r, n.k);
    }
    if (n.x !== undefined) d.events.dropCachedEvent(n.x);
    d.slidingSync.noteEvent(n.r, n.t, n.k, n.c ?? {}, n.s);
  });
  d.effects.set("afterPersist", "cluster.announce", (ev: RoomEvent, stream: number) => {
    if (!ev.room_id) return;
    const note: EventNote = { r: ev.room_id, t: ev.type, s: stream };
    if (typeof ev.state_key === "string") note.k = ev.state_key;
    if (ev.type === "m.room.member") note.m = String(ev.content["membership"] ?? "");
    const redacts = ev.type === "m.room.redaction" ? (ev.redacts ?? ev.content["redacts"]) : undefined;
    if (typeof redacts === "string") note.x = redacts;
    if (ev.state_key === "" && ev.type === "m.room.encryption") note.c = { algorithm: ev.content["algorithm"] };
    if (ev.state_key === "" && ev.type === "m.room.create") note.c = { type: ev.content["type"] };
    events.publish(note);
  });

  d.typing.replicate(bus);

  // OpenID tokens: the third party may ask any process.
  const openId = bus.channel<{ t: string; u: string; e: number }>("openid");
  openId.subscribe((m, origin) => {
    if (origin === "remote") d.openId.adopt(m.t, m.u, m.e);
  });
  d.openId.onIssued = (t, u, e) => openId.publish({ t, u, e });

  // Messages may have been missed while the bus was down: cached reads start over.
  bus.onResync(() => trimCaches(0));
}
