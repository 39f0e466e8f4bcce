// matrix-js-sdk as a real client against hs: password login of a user created through the
// shared-secret API, whoami, capabilities, profile, devices with its UIA handling, refresh, and
// registration through its InteractiveAuth helper.
import { expect, test } from "bun:test";
import { createClient, InteractiveAuth, MatrixError, type AuthDict } from "matrix-js-sdk";
import { registerUser, uniqueLocalpart } from "../helpers/client.ts";
import { quiet } from "../helpers/sdk.ts";
import { describeOnBackends, serverFixture } from "../helpers/suite.ts";

describeOnBackends("matrix-js-sdk", (backend) => {
  const ctx = serverFixture({ backend, config: { registration: { enabled: true }, auth: { access_token_lifetime: 60 } } });

  test("loginRequest + whoami for a user made with the shared-secret API", async () => {
    const name = uniqueLocalpart("sdk");
    await registerUser(ctx.s, name, "sdk-password");
    const anon = createClient({ baseUrl: ctx.s.url, logger: quiet });
    const flows = await anon.loginFlows();
    expect(flows.flows.map((f) => f.type)).toContain("m.login.password");
    const creds = await anon.loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: name },
      password: "sdk-password",
      initial_device_display_name: "js-sdk test",
    });
    expect(creds.user_id).toBe(`@${name}:${ctx.s.serverName}`);

    const client = createClient({ baseUrl: ctx.s.url, accessToken: creds.access_token, userId: creds.user_id, deviceId: creds.device_id, logger: quiet });
    try {
      const who = await client.whoami();
      expect(who.user_id).toBe(creds.user_id);
      expect(who.device_id).toBe(creds.device_id);
      expect(who.is_guest).toBe(false);
      const caps = await client.getCapabilities();
      expect(caps["m.change_password"]?.enabled).toBe(true);
      await client.setDisplayName("SDK User");
      expect((await client.getProfileInfo(creds.user_id)).displayname).toBe("SDK User");
      const devices = await client.getDevices();
      expect(devices.devices.find((d) => d.device_id === creds.device_id)?.display_name).toBe("js-sdk test");

      // Device deletion: the SDK sees our 401 as a UIA challenge and we answer it.
      const other = await anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "sdk-password" });
      let challenge: MatrixError | undefined;
      try {
        await client.deleteDevice(other.device_id);
      } catch (e) {
        challenge = e as MatrixError;
      }
      expect(challenge?.httpStatus).toBe(401);
      const session = (challenge?.data as { session?: string }).session;
      expect(typeof session).toBe("string");
      await client.deleteDevice(other.device_id, { type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "sdk-password", session });
      expect((await client.getDevices()).devices.map((d) => d.device_id)).not.toContain(other.device_id);
    } finally {
      client.stopClient();
      anon.stopClient();
    }
  });

  test("refresh tokens through the SDK", async () => {
    const name = uniqueLocalpart("sdkr");
    await registerUser(ctx.s, name, "pw");
    const anon = createClient({ baseUrl: ctx.s.url, logger: quiet });
    const creds = await anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "pw", refresh_token: true });
    expect(creds.expires_in_ms).toBe(60_000);
    const refreshed = await anon.refreshToken(creds.refresh_token!);
    expect(refreshed.access_token).not.toBe(creds.access_token);
    const client = createClient({ baseUrl: ctx.s.url, accessToken: refreshed.access_token, userId: creds.user_id, logger: quiet });
    expect((await client.whoami()).user_id).toBe(creds.user_id);
    client.stopClient();
    anon.stopClient();
  });

  test("registration through InteractiveAuth (m.login.dummy)", async () => {
    const name = uniqueLocalpart("sdkreg");
    const client = createClient({ baseUrl: ctx.s.url, logger: quiet });
    const ia = new InteractiveAuth({
      matrixClient: client,
      doRequest: (auth: AuthDict | null) => client.registerRequest({ username: name, password: "pw", auth: auth ?? undefined }),
      stateUpdated: () => {},
      requestEmailToken: async () => ({ sid: "" }),
    });
    const res = await ia.attemptAuth();
    expect(res.user_id).toBe(`@${name}:${ctx.s.serverName}`);
    expect(typeof res.access_token).toBe("string");
    client.stopClient();
  });
});
