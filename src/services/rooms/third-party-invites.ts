// Third-party invites (spec: client-server-api modules/third_party_invites.md,
// third_party_membership.yaml, definitions/invite_3pid.yaml). hs uses no identity server, so it
// cannot look up or store invitations for third-party identifiers: a well-formed request from a
// member allowed to invite is refused with 403 M_THREEPID_DENIED (createRoom's invite_3pid with
// 400 M_THREEPID_DENIED, before anything is created). Malformed requests get the usual errors
// first (M_MISSING_PARAM, M_BAD_JSON), and a requester who may not invite gets 403 M_FORBIDDEN,
// as for any invite.
import { effectivePowerLevels, userLevel } from "../../core/power-levels.ts";
import { stateMapKey } from "../../core/state-map.ts";
import { MatrixError } from "../../protocol/errors.ts";
import type { RoomEvents } from "./events.ts";

export interface Invite3pid {
  id_server: string;
  id_access_token?: string;
  medium: string;
  address: string;
}

const NO_IDENTITY_SERVER = "Third-party invites need an identity server, which this server does not use";

/** Validates an Invite3pid object (`path` names it in errors). */
export function parseInvite3pid(v: unknown, path: string): Invite3pid {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new MatrixError("M_BAD_JSON", `${path} must be an object`);
  const o = v as Record<string, unknown>;
  for (const k of ["id_server", "medium", "address"]) {
    if (o[k] === undefined) throw new MatrixError("M_MISSING_PARAM", `Missing '${k}' in ${path}`);
    if (typeof o[k] !== "string") throw new MatrixError("M_BAD_JSON", `'${k}' in ${path} must be a string`);
  }
  // Required by the spec since r0.6; older clients leave it out (the spec lets servers accept that).
  if (o.id_access_token !== undefined && typeof o.id_access_token !== "string") throw new MatrixError("M_BAD_JSON", `'id_access_token' in ${path} must be a string`);
  return { id_server: o.id_server as string, medium: o.medium as string, address: o.address as string, id_access_token: o.id_access_token as string | undefined };
}

/** Validates createRoom's invite_3pid: any entry is refused (400 M_THREEPID_DENIED). */
export function checkCreateRoomInvite3pid(v: unknown): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) throw new MatrixError("M_BAD_JSON", "'invite_3pid' must be a list");
  v.forEach((e, i) => parseInvite3pid(e, `invite_3pid[${i}]`));
  if (v.length > 0) throw new MatrixError("M_THREEPID_DENIED", NO_IDENTITY_SERVER, {}, 400);
}

export class ThirdPartyInvites {
  constructor(private readonly events: RoomEvents) {}

  /** POST /rooms/{roomId}/invite with a third-party identifier. */
  async invite(sender: string, roomId: string, body: Record<string, unknown>): Promise<never> {
    parseInvite3pid(body, "the request");
    const rv = await this.events.roomVersion(roomId);
    if (!rv) throw new MatrixError("M_FORBIDDEN", "You are not in this room");
    const st = await this.events.currentStateEvents(roomId, [
      ["m.room.create", ""],
      ["m.room.power_levels", ""],
      ["m.room.member", sender],
    ]);
    if (st.get(stateMapKey("m.room.member", sender))?.content["membership"] !== "join") throw new MatrixError("M_FORBIDDEN", "You are not in this room");
    const pl = effectivePowerLevels(st.get(stateMapKey("m.room.power_levels", ""))?.content, st.get(stateMapKey("m.room.create", "")), rv);
    if (userLevel(pl, sender) < pl.invite) throw new MatrixError("M_FORBIDDEN", "You do not have the power to invite users to this room");
    throw new MatrixError("M_THREEPID_DENIED", NO_IDENTITY_SERVER);
  }
}
