// Shared-secret registration nonces are handed to anyone who asks (GET /_synapse/admin/v1/register):
// at most MAX_NONCES are kept, the oldest dropped first, so asking cannot grow memory without bound.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MAX_NONCES, sharedSecretMac } from "../../src/services/registration.ts";
import { TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const REG = "/_synapse/admin/v1/register";
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

test(`past ${MAX_NONCES} outstanding nonces the oldest is forgotten; newer ones still work`, async () => {
  const anon = new TestClient(s.url);
  const nonce = async () => (await anon.ok<{ nonce: string }>("GET", REG)).nonce;
  const first = await nonce();
  let last = "";
  let n = 1;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (n < MAX_NONCES + 1) {
        n++;
        last = await nonce();
      }
    }),
  );
  const register = (nc: string, name: string) =>
    anon.post(REG, { nonce: nc, username: name, password: "pw", admin: false, mac: sharedSecretMac("test-shared-secret", nc, name, "pw", false) });
  const old = await register(first, "capped1");
  expect(old.status).toBe(400);
  expect(old.body.error).toContain("nonce");
  expect((await register(last, "capped2")).status).toBe(200);
}, 60_000);
