// Policy servers (server-server-api "Policy Servers", client-server-api modules/policy_servers.md,
// spec v1.18): a room whose current state has a valid m.room.policy event (`via` and an ed25519
// key) naming a server with a joined member "uses" that policy server. Then every event but the
// m.room.policy state event itself needs the policy server's signature (key ID
// ed25519:policy_server, checked with the key from room state):
//   - local events ask for it (POST /_matrix/policy/v1/sign) before they are stored and sent; a
//     refusal reaches the client verbatim and the event is discarded (RoomEvents.policySign);
//   - received events without a valid one are asked for again, and soft-failed when still unsigned
//     (FederationReceiver, step 7 of the checks on receipt).
// hs is not a policy server itself (it serves no /sign).
import { hasValidPolicySignature, needsPolicySignature, policyServerOf, withPolicySignature } from "../../core/pdu.ts";
import type { RoomVersion } from "../../core/room-versions.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { isJsonObject, type RoomEvent } from "../../protocol/events.ts";
import { logger } from "../../util/log.ts";
import type { RoomEvents } from "../rooms/events.ts";
import { asClientError } from "./membership.ts";
import type { FederationRequester } from "./ports.ts";

const log = logger("federation");

/** How long a policy server may take to sign an event (a local send waits for it). */
export const POLICY_SIGN_TIMEOUT_MS = 10_000;

export interface PolicyServersDeps {
  events: RoomEvents;
  fed: FederationRequester;
  /** The servers with joined users in a room (RoomFederation.serversInRoom, cached). */
  serversInRoom: (roomId: string) => Promise<string[]>;
}

export type RoomPolicy = { via: string; ed25519: string };

export class PolicyServers {
  constructor(private readonly d: PolicyServersDeps) {}

  /** The policy server a room uses, if any: a valid m.room.policy and a joined member on `via`. */
  async policyOf(roomId: string): Promise<RoomPolicy | undefined> {
    const ev = await this.d.events.currentStateEvent(roomId, "m.room.policy", "");
    const p = ev ? policyServerOf(ev.content) : undefined;
    if (!p) return undefined;
    return (await this.d.serversInRoom(roomId)).includes(p.via) ? p : undefined;
  }

  /**
   * The policy server's signature on `ev`, added (the returned event). Throws the policy server's
   * refusal as a Matrix error, or 502 when it cannot be reached or signs badly.
   */
  async ask(ev: RoomEvent, rv: RoomVersion, p: RoomPolicy): Promise<RoomEvent> {
    const { event_id: _local, ...pdu } = ev as RoomEvent & { event_id?: string };
    let res: unknown;
    try {
      res = await this.d.fed.request({ destination: p.via, method: "POST", path: "/_matrix/policy/v1/sign", body: rv.eventIdInEvent ? ev : pdu, timeoutMs: POLICY_SIGN_TIMEOUT_MS });
    } catch (e) {
      throw asClientError(e, "have the room's policy server sign the event");
    }
    const sigs = isJsonObject(res) ? res[p.via] : undefined;
    if (!isJsonObject(sigs)) throw new MatrixError("M_UNKNOWN", "The room's policy server answered without its signature", {}, 502);
    const signed = withPolicySignature(ev, p.via, sigs) as RoomEvent;
    if (!hasValidPolicySignature(signed, rv, p.via, p.ed25519)) {
      throw new MatrixError("M_UNKNOWN", "The room's policy server signed with a key other than the one in the room's m.room.policy", {}, 502);
    }
    return signed;
  }

  /** A local event before it is stored: with the policy server's signature when the room uses one. */
  readonly signLocal = async (ev: RoomEvent, rv: RoomVersion, roomId: string): Promise<RoomEvent> => {
    if (!needsPolicySignature(ev)) return ev;
    const p = await this.policyOf(roomId);
    return p ? this.ask(ev, rv, p) : ev;
  };

  /**
   * A received event is recommended for inclusion: no policy server, or its valid signature (asked
   * for again when missing or invalid, as the key may have rotated). False: soft-fail it.
   */
  async recommended(ev: RoomEvent, rv: RoomVersion, roomId: string): Promise<boolean> {
    if (!needsPolicySignature(ev)) return true;
    const p = await this.policyOf(roomId);
    if (!p || hasValidPolicySignature(ev, rv, p.via, p.ed25519)) return true;
    try {
      await this.ask(ev, rv, p);
      return true;
    } catch (e) {
      log.info("policy server did not recommend an event", { event_id: ev.event_id, via: p.via, error: (e as Error).message });
      return false;
    }
  }
}
