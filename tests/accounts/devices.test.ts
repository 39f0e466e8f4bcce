// Device management: GET /devices, GET/PUT/DELETE /devices/{deviceId}, POST /delete_devices,
// last-seen tracking, and the deleteDevices hook.
import { expect, test } from "bun:test";
import { expectError, loginUser, registerUser, TestClient, uniqueLocalpart, withPasswordAuth } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const DEVICES = "/_matrix/client/v3/devices";

describeOnBackends("devices", (backend) => {
  const deleted: Array<[string, string[]]> = [];
  const ctx = fixture<{ s: TestServer; name: string; me: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend });
    ctx.s.hs.services.accounts.onDevicesDeleted.push(async (userId, ids) => void deleted.push([userId, ids]));
    ctx.name = uniqueLocalpart("dev");
    ctx.me = await registerUser(ctx.s, ctx.name);
  });

  test("GET /devices lists the user's devices with last-seen information", async () => {
    const other = await loginUser(ctx.s, ctx.name, "password", { initial_device_display_name: "Tablet" });
    await other.request("GET", "/_matrix/client/v3/account/whoami", undefined, { "User-Agent": "tablet-client/1.0" });
    const r = await ctx.me.get(DEVICES);
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/device_management", "GET", "/devices", 200, r.body);
    const ids = r.body.devices.map((d: { device_id: string }) => d.device_id);
    expect(ids).toContain(ctx.me.deviceId);
    expect(ids).toContain(other.deviceId);
    const tablet = r.body.devices.find((d: { device_id: string }) => d.device_id === other.deviceId);
    expect(tablet.display_name).toBe("Tablet");
    expect(tablet.last_seen_ip).toBe("127.0.0.1");
    expect(Math.abs(tablet.last_seen_ts - Date.now())).toBeLessThan(60_000);
  });

  test("GET/PUT /devices/{deviceId}; unknown devices → 404", async () => {
    const one = await ctx.me.get(`${DEVICES}/${ctx.me.deviceId}`);
    expect(one.status).toBe(200);
    assertMatchesSpec("client-server/device_management", "GET", "/devices/{deviceId}", 200, one.body);
    expect(one.body.device_id).toBe(ctx.me.deviceId);
    const put = await ctx.me.put(`${DEVICES}/${ctx.me.deviceId}`, { display_name: "Renamed" });
    expect(put.status).toBe(200);
    assertMatchesSpec("client-server/device_management", "PUT", "/devices/{deviceId}", 200, put.body);
    expect((await ctx.me.ok("GET", `${DEVICES}/${ctx.me.deviceId}`)).display_name).toBe("Renamed");
    // Leaving display_name out changes nothing.
    expect((await ctx.me.put(`${DEVICES}/${ctx.me.deviceId}`, {})).status).toBe(200);
    expect((await ctx.me.ok("GET", `${DEVICES}/${ctx.me.deviceId}`)).display_name).toBe("Renamed");
    expectError(await ctx.me.get(`${DEVICES}/NOSUCHDEVICE`), 404, "M_NOT_FOUND");
    expectError(await ctx.me.put(`${DEVICES}/NOSUCHDEVICE`, { display_name: "x" }), 404, "M_NOT_FOUND");
    expectError(await ctx.me.put(`${DEVICES}/${ctx.me.deviceId}`, { display_name: 5 }), 400, "M_BAD_JSON");
    // Another user's device is not visible.
    const other = await registerUser(ctx.s, uniqueLocalpart());
    expectError(await other.get(`${DEVICES}/${ctx.me.deviceId}`), 404, "M_NOT_FOUND");
    expectError(await new TestClient(ctx.s.url).get(DEVICES), 401, "M_MISSING_TOKEN");
  });

  test("DELETE /devices/{deviceId} needs the password (UIA) and logs the device out", async () => {
    const victim = await loginUser(ctx.s, ctx.name);
    const first = await ctx.me.delete(`${DEVICES}/${victim.deviceId}`, {});
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/device_management", "DELETE", "/devices/{deviceId}", 401, first.body);
    expect(first.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const bad = await ctx.me.delete(`${DEVICES}/${victim.deviceId}`, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.name }, password: "wrong", session: first.body.session },
    });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ errcode: "M_FORBIDDEN", session: first.body.session });
    assertMatchesSpec("client-server/device_management", "DELETE", "/devices/{deviceId}", 401, bad.body);
    // The password stage must name the requester: another user's correct password (a stolen
    // token) is refused outright with 403, not counted as a failed stage (as Synapse).
    const someoneElse = await registerUser(ctx.s, uniqueLocalpart());
    const foreign = await ctx.me.delete(`${DEVICES}/${victim.deviceId}`, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: someoneElse.userId }, password: "password", session: first.body.session },
    });
    expectError(foreign, 403, "M_FORBIDDEN");
    expect(foreign.body.flows).toBeUndefined();
    expect((await ctx.me.get(`${DEVICES}/${victim.deviceId}`)).status).toBe(200);
    const ok = await ctx.me.delete(`${DEVICES}/${victim.deviceId}`, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.name }, password: "password", session: first.body.session },
    });
    expect(ok.status).toBe(200);
    assertMatchesSpec("client-server/device_management", "DELETE", "/devices/{deviceId}", 200, ok.body);
    expectError(await victim.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    expectError(await ctx.me.get(`${DEVICES}/${victim.deviceId}`), 404, "M_NOT_FOUND");
    expect(deleted).toContainEqual([ctx.me.userId!, [victim.deviceId!]]);
    // Deleting a device that is already gone succeeds.
    expect((await withPasswordAuth(ctx.me, "DELETE", `${DEVICES}/${victim.deviceId}`)).status).toBe(200);
    // Without a body at all, the client still gets the challenge.
    expect((await ctx.me.request("DELETE", `${DEVICES}/${victim.deviceId}`)).status).toBe(401);
  });

  test("POST /delete_devices deletes several devices at once", async () => {
    const a = await loginUser(ctx.s, ctx.name);
    const b = await loginUser(ctx.s, ctx.name);
    expectError(await ctx.me.post("/_matrix/client/v3/delete_devices", {}), 400, "M_MISSING_PARAM");
    expectError(await ctx.me.post("/_matrix/client/v3/delete_devices", { devices: "x" }), 400, "M_BAD_JSON");
    const first = await ctx.me.post("/_matrix/client/v3/delete_devices", { devices: [a.deviceId, b.deviceId, "UNKNOWN"] });
    expect(first.status).toBe(401);
    assertMatchesSpec("client-server/device_management", "POST", "/delete_devices", 401, first.body);
    // The second request may carry only `auth`: the session remembers the devices.
    const ok = await ctx.me.post("/_matrix/client/v3/delete_devices", {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.me.userId }, password: "password", session: first.body.session },
    });
    expect(ok.status).toBe(200);
    assertMatchesSpec("client-server/device_management", "POST", "/delete_devices", 200, ok.body);
    expectError(await a.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    expectError(await b.get("/_matrix/client/v3/account/whoami"), 401, "M_UNKNOWN_TOKEN");
    expect((await ctx.me.get("/_matrix/client/v3/account/whoami")).status).toBe(200);
  });

  test("whois: self or server admin; connections per device", async () => {
    const self = await ctx.me.get(`/_matrix/client/v3/admin/whois/${ctx.me.userId}`);
    expect(self.status).toBe(200);
    assertMatchesSpec("client-server/admin", "GET", "/v3/admin/whois/{userId}", 200, self.body);
    expect(self.body.user_id).toBe(ctx.me.userId);
    const conn = self.body.devices[ctx.me.deviceId!].sessions[0].connections[0];
    expect(conn).toMatchObject({ ip: "127.0.0.1" });
    expect(typeof conn.last_seen).toBe("number");
    const other = await registerUser(ctx.s, uniqueLocalpart());
    expectError(await other.get(`/_matrix/client/v3/admin/whois/${ctx.me.userId}`), 403, "M_FORBIDDEN");
    const admin = await registerUser(ctx.s, uniqueLocalpart("admin"), "password", true);
    const viaAdmin = await admin.get(`/_synapse/admin/v1/whois/${ctx.me.userId}`);
    expect(viaAdmin.status).toBe(200);
    expect(Object.keys(viaAdmin.body.devices)).toContain(ctx.me.deviceId!);
    expectError(await admin.get(`/_matrix/client/v3/admin/whois/@x:elsewhere.example`), 400, "M_INVALID_PARAM");
    expectError(await admin.get(`/_matrix/client/v3/admin/whois/@nobody:${ctx.s.serverName}`), 404, "M_NOT_FOUND");
  });
});
