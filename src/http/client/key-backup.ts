// Server-side key backups: /room_keys/version[/{version}] and /room_keys/keys[/{roomId}[/{sessionId}]].
// Spec: data/api/client-server/key_backup.yaml; end_to_end_encryption.md "Server-side key backups".
import { MatrixError } from "../../protocol/errors.ts";
import { isOpaqueRoomId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { isJsonObject, jsonBody } from "../params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const V3 = "/_matrix/client/v3";

function roomIdParam(v: string | undefined): string {
  if (!v || !isOpaqueRoomId(v)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
  return v;
}

function sessionIdParam(v: string | undefined): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", "Missing session ID");
  if (v.length > 255) throw new MatrixError("M_INVALID_PARAM", "Session ID too long");
  return v;
}

/** The `sessions` map of a RoomKeyBackup body. */
function sessionsOf(v: unknown, where: string): Map<string, unknown> {
  if (v === undefined) throw new MatrixError("M_MISSING_PARAM", `Missing '${where}'`);
  if (!isJsonObject(v)) throw new MatrixError("M_BAD_JSON", `'${where}' must be an object`);
  return new Map(Object.entries(v));
}

export function keyBackupRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  const backup = () => svc.e2ee.backup;
  const version = (r: Request) => new URL(r.url).searchParams.get("version");
  route({ method: "POST", path: `${V3}/room_keys/version`, api: "client-server", access: "user" }, async ({ who, request, body }) => {
    return backup().createVersion(who.userId, jsonBody(body));
  });
  route({ method: "GET", path: `${V3}/room_keys/version`, api: "client-server", access: "user" }, async ({ who, request }) => {
    return backup().getVersion(who.userId);
  });
  route({ method: "GET", path: `${V3}/room_keys/version/:version`, api: "client-server", access: "user", params: { version: param.raw } }, async ({ who, request, params }) => {
    return backup().getVersion(who.userId, params.version ?? "");
  });
  route({ method: "PUT", path: `${V3}/room_keys/version/:version`, api: "client-server", access: "user", params: { version: param.raw } }, async ({ who, request, params, body }) => {
    await backup().updateVersion(who.userId, params.version ?? "", jsonBody(body));
    return {};
  });
  route({ method: "DELETE", path: `${V3}/room_keys/version/:version`, api: "client-server", access: "user", params: { version: param.raw } }, async ({ who, request, params }) => {
    await backup().deleteVersion(who.userId, params.version ?? "");
    return {};
  });

  // ---- keys, at three levels
  route({ method: "PUT", path: `${V3}/room_keys/keys`, api: "client-server", access: "user" }, async ({ who, request, body }) => {
    const b = jsonBody(body);
    if (b.rooms === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'rooms'");
    if (!isJsonObject(b.rooms)) throw new MatrixError("M_BAD_JSON", "'rooms' must be an object");
    const rooms = new Map<string, Map<string, unknown>>();
    for (const [roomId, room] of Object.entries(b.rooms)) {
      if (!isOpaqueRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", `Invalid room ID ${JSON.stringify(roomId.slice(0, 100))}`);
      if (!isJsonObject(room)) throw new MatrixError("M_BAD_JSON", `'rooms.${roomId}' must be an object`);
      rooms.set(roomId, sessionsOf(room.sessions, `rooms.${roomId}.sessions`));
    }
    return backup().putKeys(who.userId, version(request), rooms);
  });
  route({ method: "PUT", path: `${V3}/room_keys/keys/:roomId`, api: "client-server", access: "user", params: { roomId: param.raw } }, async ({ who, request, params, body }) => {
    const roomId = roomIdParam(params.roomId);
    return backup().putKeys(who.userId, version(request), new Map([[roomId, sessionsOf(jsonBody(body).sessions, "sessions")]]));
  });
  route({ method: "PUT", path: `${V3}/room_keys/keys/:roomId/:sessionId`, api: "client-server", access: "user", params: { roomId: param.raw, sessionId: param.raw } }, async ({ who, request, params, body }) => {
    const roomId = roomIdParam(params.roomId);
    const sessionId = sessionIdParam(params.sessionId);
    return backup().putKeys(who.userId, version(request), new Map([[roomId, new Map([[sessionId, jsonBody(body) as unknown]])]]));
  });

  route({ method: "GET", path: `${V3}/room_keys/keys`, api: "client-server", access: "user" }, async ({ who, request }) => {
    return backup().getKeys(who.userId, version(request));
  });
  route({ method: "GET", path: `${V3}/room_keys/keys/:roomId`, api: "client-server", access: "user", params: { roomId: param.raw } }, async ({ who, request, params }) => {
    return backup().getKeys(who.userId, version(request), roomIdParam(params.roomId));
  });
  route({ method: "GET", path: `${V3}/room_keys/keys/:roomId/:sessionId`, api: "client-server", access: "user", params: { roomId: param.raw, sessionId: param.raw } }, async ({ who, request, params }) => {
    return backup().getKeys(who.userId, version(request), roomIdParam(params.roomId), sessionIdParam(params.sessionId));
  });

  route({ method: "DELETE", path: `${V3}/room_keys/keys`, api: "client-server", access: "user" }, async ({ who, request }) => {
    return backup().deleteKeys(who.userId, version(request));
  });
  route({ method: "DELETE", path: `${V3}/room_keys/keys/:roomId`, api: "client-server", access: "user", params: { roomId: param.raw } }, async ({ who, request, params }) => {
    return backup().deleteKeys(who.userId, version(request), roomIdParam(params.roomId));
  });
  route({ method: "DELETE", path: `${V3}/room_keys/keys/:roomId/:sessionId`, api: "client-server", access: "user", params: { roomId: param.raw, sessionId: param.raw } }, async ({ who, request, params }) => {
    return backup().deleteKeys(who.userId, version(request), roomIdParam(params.roomId), sessionIdParam(params.sessionId));
  });
}
