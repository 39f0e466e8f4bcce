// Server-side key backups: /room_keys/version[/{version}] and /room_keys/keys[/{roomId}[/{sessionId}]].
// Spec: data/api/client-server/key_backup.yaml; end_to_end_encryption.md "Server-side key backups".
import { MatrixError } from "../../protocol/errors.ts";
import { isOpaqueRoomId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { App } from "../app.ts";
import { authenticate } from "../auth.ts";
import { isJsonObject, jsonBody } from "../params.ts";

const PREFIXES = ["/_matrix/client/v3"];

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
  const backup = () => svc.e2ee.backup;
  const version = (r: Request) => new URL(r.url).searchParams.get("version");
  for (const p of PREFIXES) {
    app.post(`${p}/room_keys/version`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      return backup().createVersion(who.userId, jsonBody(body));
    });
    app.get(`${p}/room_keys/version`, async ({ request }) => {
      const who = await authenticate(svc, request);
      return backup().getVersion(who.userId);
    });
    app.get(`${p}/room_keys/version/:version`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return backup().getVersion(who.userId, params.version ?? "");
    });
    app.put(`${p}/room_keys/version/:version`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      await backup().updateVersion(who.userId, params.version ?? "", jsonBody(body));
      return {};
    });
    app.delete(`${p}/room_keys/version/:version`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      await backup().deleteVersion(who.userId, params.version ?? "");
      return {};
    });

    // ---- keys, at three levels
    app.put(`${p}/room_keys/keys`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
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
    app.put(`${p}/room_keys/keys/:roomId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const roomId = roomIdParam(params.roomId);
      return backup().putKeys(who.userId, version(request), new Map([[roomId, sessionsOf(jsonBody(body).sessions, "sessions")]]));
    });
    app.put(`${p}/room_keys/keys/:roomId/:sessionId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const roomId = roomIdParam(params.roomId);
      const sessionId = sessionIdParam(params.sessionId);
      return backup().putKeys(who.userId, version(request), new Map([[roomId, new Map([[sessionId, jsonBody(body) as unknown]])]]));
    });

    app.get(`${p}/room_keys/keys`, async ({ request }) => {
      const who = await authenticate(svc, request);
      return backup().getKeys(who.userId, version(request));
    });
    app.get(`${p}/room_keys/keys/:roomId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return backup().getKeys(who.userId, version(request), roomIdParam(params.roomId));
    });
    app.get(`${p}/room_keys/keys/:roomId/:sessionId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return backup().getKeys(who.userId, version(request), roomIdParam(params.roomId), sessionIdParam(params.sessionId));
    });

    app.delete(`${p}/room_keys/keys`, async ({ request }) => {
      const who = await authenticate(svc, request);
      return backup().deleteKeys(who.userId, version(request));
    });
    app.delete(`${p}/room_keys/keys/:roomId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return backup().deleteKeys(who.userId, version(request), roomIdParam(params.roomId));
    });
    app.delete(`${p}/room_keys/keys/:roomId/:sessionId`, async ({ request, params }) => {
      const who = await authenticate(svc, request);
      return backup().deleteKeys(who.userId, version(request), roomIdParam(params.roomId), sessionIdParam(params.sessionId));
    });
  }
}
