// End-to-end encryption endpoints of the Client-Server API:
//   POST /keys/upload, POST /keys/query, POST /keys/claim, GET /keys/changes          (keys.yaml)
//   POST /keys/device_signing/upload, POST /keys/signatures/upload           (cross_signing.yaml)
//   PUT /sendToDevice/{eventType}/{txnId}                                        (to_device.yaml)
//   GET|PUT|DELETE /unstable/org.matrix.msc3814.v1/dehydrated_device, POST .../{deviceId}/events
//                                                                  (MSC3814 dehydrated devices)
// Spec: client-server-api modules/end_to_end_encryption.md, send_to_device.md; guests may use
// upload, query, claim and sendToDevice (guest_access.md).
import { MatrixError } from "../../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD } from "../../protocol/uia.ts";
import type { Services } from "../../services/index.ts";
import { decodeStreamToken } from "../../services/rooms/tokens.ts";
import type { App } from "../app.ts";
import { connectionOf } from "../auth.ts";
import { withoutAuth } from "../params.ts";
import { routes } from "../endpoint.ts";
import { body, param, query } from "../schema.ts";

const V3 = "/_matrix/client/v3";
const CS = "client-server" as const;

export function e2eeRoutes(app: App, svc: Services): void {
  const keys = () => svc.e2ee.keys;
  const route = routes(app, svc);
  route({ method: "POST", path: `${V3}/keys/upload`, api: CS, access: "guest", body: body.object }, ({ who, body }) => keys().upload(who.userId, who.deviceId, body));
  route({ method: "POST", path: `${V3}/keys/query`, api: CS, access: "guest", body: body.object }, ({ who, body }) => keys().query(who.userId, body));
  route({ method: "POST", path: `${V3}/keys/claim`, api: CS, access: "guest", body: body.object }, ({ body }) => keys().claim(body));

  route({ method: "GET", path: `${V3}/keys/changes`, api: CS, access: "user", query: { from: query.raw, to: query.raw } }, ({ who, query }) => {
    if (!query.from) throw new MatrixError("M_MISSING_PARAM", "Missing 'from'");
    const fromPos = decodeStreamToken(query.from).stream;
    // `to` is a hint (spec); a token past what exists is read as now.
    const toPos = Math.min(query.to ? decodeStreamToken(query.to).stream : svc.streams.current(), svc.streams.current());
    return svc.e2ee.deviceLists.changesFor(who.userId, fromPos, toPos);
  });

  route({ method: "POST", path: `${V3}/keys/device_signing/upload`, api: CS, access: "user", body: body.object }, async ({ who, body: b, request }) => {
    let params = withoutAuth(b);
    if (await keys().crossSigningUploadNeedsAuth(who.userId, params)) {
      const outcome = await svc.uia.authenticate(b.auth, {
        flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
        method: "POST",
        uri: `${V3}/keys/device_signing/upload`,
        userId: who.userId,
        clientDict: params,
        ip: connectionOf(request).ip,
      });
      params = outcome.clientDict;
      await keys().uploadCrossSigningKeys(who.userId, params);
      await svc.uia.finish(outcome.sessionId);
      return {};
    }
    await keys().uploadCrossSigningKeys(who.userId, params);
    return {};
  });

  route({ method: "POST", path: `${V3}/keys/signatures/upload`, api: CS, access: "user", body: body.object }, ({ who, body }) =>
    keys().uploadSignatures(who.userId, body),
  );

  route(
    {
      method: "PUT", path: `${V3}/sendToDevice/:eventType/:txnId`, api: CS, access: "guest",
      params: { eventType: param.segment("event type"), txnId: param.segment("transaction ID") }, body: body.object,
    },
    async ({ who, params, body }) => {
      await svc.e2ee.toDevice.send(who.userId, who.deviceId, params.eventType, params.txnId, body);
      return {};
    },
  );

  // Dehydrated devices (MSC3814), under the unstable prefix clients use; advertised in /versions.
  const dehydrated = () => svc.e2ee.dehydrated;
  const DEHYDRATION = `/_matrix/client/unstable/${DEHYDRATION_FEATURE}.v1/dehydrated_device`;
  const U = "unstable" as const;
  route({ method: "GET", path: DEHYDRATION, api: U, access: "user" }, ({ who }) => dehydrated().get(who.userId));
  route({ method: "PUT", path: DEHYDRATION, api: U, access: "user", body: body.object }, ({ who, body }) => dehydrated().put(who.userId, body));
  route({ method: "DELETE", path: DEHYDRATION, api: U, access: "user" }, ({ who }) => dehydrated().delete(who.userId));
  route(
    { method: "POST", path: `${DEHYDRATION}/:deviceId/events`, api: U, access: "user", params: { deviceId: param.segment("device ID") }, body: body.object },
    ({ who, params, body }) => dehydrated().events(who.userId, params.deviceId, body.next_batch),
  );
}

/** The unstable feature flag of dehydrated devices in /versions. */
export const DEHYDRATION_FEATURE = "org.matrix.msc3814";
