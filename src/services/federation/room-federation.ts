// Assembles the federation event services (receiver, sender, membership, serving) on top of the
// transport (key ring, signed requests), and connects them to the rooms layer: local events and
// typing/receipt changes go out to the other servers in the room; EDUs coming in are applied.
import { MatrixError } from "../../protocol/errors.ts";
import type { RoomEvent } from "../../protocol/events.ts";
import { findServerNameOf } from "../../protocol/ids.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import type { RoomsRepo } from "../../storage/repos/rooms.ts";
import type { SigningKey } from "../../core/signing.ts";
import type { RoomEvents } from "../rooms/events.ts";
import type { Rooms } from "../rooms/rooms.ts";
import { StateResolver } from "../rooms/state-resolution.ts";
import type { Typing } from "../typing.ts";
import { FederationMembership } from "./membership.ts";
import type { FederationRequester, KeyLookup } from "./ports.ts";
import { PolicyServers } from "./policy.ts";
import { FederationReceiver } from "./receiver.ts";
import { FederationSender } from "./sender.ts";
import type { ProcessLeases } from "../workers.ts";
import type { BusChannel } from "../cluster/bus.ts";
import { FederationServe } from "./serve.ts";

export interface RoomFederation {
  receiver: FederationReceiver;
  sender: FederationSender;
  membership: FederationMembership;
  serve: FederationServe;
  resolver: StateResolver;
  /** The servers with joined users in a room (cached; refreshed on membership changes). */
  serversInRoom(roomId: string): Promise<string[]>;
  /** A membership changed through another process (cluster/caches.ts): ask the database again. */
  forgetServersInRoom(roomId: string): void;
}

export interface RoomFederationDeps {
  repos: Repositories;
  serverName: string;
  signingKey: SigningKey;
  roomsRepo: RoomsRepo;
  events: RoomEvents;
  rooms: Rooms;
  typing: Typing;
  keys: KeyLookup;
  fed: FederationRequester;
  enabled: boolean;
  /** Back-off of the sender (tests shorten it). */
  minBackoffMs?: number;
  /** [federation] max_concurrent_inbound_transactions. */
  maxConcurrentTransactions?: number;
  /** Server ACLs (room-scoped EDUs from denied servers are ignored). */
  acls?: { isAllowed(roomId: string, serverName: string): Promise<boolean> };
  shutdownHooks: Array<() => void | Promise<void>>;
  /** Leases of destinations' queues (services/workers.ts). */
  leases?: ProcessLeases;
  /** [worker] roles has federation_sender (default true). */
  sends?: boolean;
  /** Cross-process wake-ups of the senders (services/cluster/bus.ts). */
  queued?: BusChannel<{ destinations: string[] }>;
}

export async function createRoomFederation(d: RoomFederationDeps): Promise<RoomFederation> {
  const { repos, serverName, events, roomsRepo: repo } = d;
  const resolver = new StateResolver(repo, events);
  // serversInRoom (below) is ready before any event is sent or received.
  const policy = new PolicyServers({ events, fed: d.fed, serversInRoom: (roomId) => serversInRoom(roomId) });
  events.policySign = d.enabled ? policy.signLocal : null;
  const receiver = new FederationReceiver({ transaction: repos.transaction, repo, events, resolver, keys: d.keys, fed: d.fed, serverName, policy, acls: d.acls });
  const sender = new FederationSender(repos.federationOutbox, d.fed, {
    serverName,
    enabled: d.enabled,
    minBackoffMs: d.minBackoffMs,
    leases: d.leases,
    sends: d.sends,
    queued: d.queued,
  });
  const membership = new FederationMembership({
    accounts: repos.accounts,
    repo,
    events,
    resolver,
    receiver,
    fed: d.fed,
    serverName,
    signingKey: d.signingKey,
    checkInvitee: (invitee, inviter) => d.rooms.checkInvitee(invitee, inviter),
  });
  const serve = new FederationServe({ receivedTxns: repos.federationReceivedTxns, repo, events, receiver, membership, serverName, maxConcurrentTransactions: d.maxConcurrentTransactions });

  const serversCache = new Map<string, string[]>();
  const serversInRoom = async (roomId: string): Promise<string[]> => {
    let s = serversCache.get(roomId);
    if (!s) {
      s = await membership.serversInRoom(roomId);
      serversCache.set(roomId, s);
      if (serversCache.size > 5000) serversCache.delete(serversCache.keys().next().value as string);
    }
    return s;
  };

  // Local events go to every other server in the room (and a remote target of a membership change).
  events.effects.set("afterPersist", "federation.send", (ev: RoomEvent) => {
    const roomId = ev.room_id;
    if (!roomId) return;
    if (ev.type === "m.room.member") {
      // A join from a server already in the room changes nothing; anything else recomputes lazily.
      const cached = serversCache.get(roomId);
      const server = typeof ev.state_key === "string" ? findServerNameOf(ev.state_key) : null;
      if (!(cached && ev.content["membership"] === "join" && server && cached.includes(server))) serversCache.delete(roomId);
    }
    if (findServerNameOf(ev.sender) !== serverName) return;
    void (async () => {
      const rv = await events.versionOf(roomId);
      const dests = new Set(await serversInRoom(roomId));
      if (ev.type === "m.room.member" && ev.state_key) {
        const target = findServerNameOf(ev.state_key);
        // An invitee's server got the invite through /invite already.
        if (target && ev.content["membership"] !== "invite") dests.add(target);
      }
      dests.delete(serverName);
      if (dests.size) await sender.sendPdu(membership.wire(ev, rv), dests);
    })().catch(() => undefined);
  });

  // Typing: local changes out, remote ones in.
  d.typing.hooks.push((change) => {
    void (async () => {
      const dests = (await serversInRoom(change.roomId)).filter((s) => s !== serverName);
      if (dests.length) await sender.sendEdu("m.typing", { room_id: change.roomId, user_id: change.userId, typing: change.typing }, dests);
    })().catch(() => undefined);
  });
  serve.edus.set("m.typing", async (origin, c) => {
    if (typeof c.room_id !== "string" || !FederationServe.fromOrigin(c.user_id, origin)) return;
    if (!(await membership.serverInRoom(origin, c.room_id))) return;
    // Server ACLs apply to room-scoped EDUs (server-server-api "Server Access Control Lists").
    if (d.acls && !(await d.acls.isAllowed(c.room_id, origin))) return;
    d.typing.applyRemote(c.room_id, c.user_id, c.typing === true);
  });


  await serve.init(!d.leases?.shared);
  await sender.start();
  d.shutdownHooks.push(() => sender.stop());

  // The rooms layer reaches other servers through these.
  d.rooms.setRemote({
    join: (userId, roomId, servers, content) => membership.joinRemote(userId, roomId, servers, content),
    membership: (userId, roomId, servers, m, reason) => membership.remoteMembership(userId, roomId, servers, m, reason),
    cosignInvite: (ev, rv) => membership.cosignInvite(ev, rv),
    resolveAlias: async (alias) => {
      const server = findServerNameOf(alias);
      if (!server) throw new MatrixError("M_INVALID_PARAM", "Invalid room alias");
      try {
        return await d.fed.request<{ room_id: string; servers: string[] }>({
          destination: server,
          method: "GET",
          path: "/_matrix/federation/v1/query/directory",
          query: { room_alias: alias },
        });
      } catch {
        throw new MatrixError("M_NOT_FOUND", `Room alias ${alias} not found`);
      }
    },
    residentHere: (roomId) => membership.residentHere(roomId),
    backfill: async (roomId, limit) => receiver.backfill(roomId, await serversInRoom(roomId), limit),
  });

  return { receiver, sender, membership, serve, resolver, serversInRoom, forgetServersInRoom: (roomId) => void serversCache.delete(roomId) };
}
