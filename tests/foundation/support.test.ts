// GET /.well-known/matrix/support ([well_known] support_contacts, support_page) on both databases:
// the spec's shape without a token, 404 when nothing is configured, config validation.
import { expect, test } from "bun:test";
import { validateConfig } from "../../src/config/load.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { expectError, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";

describeOnBackends("/.well-known/matrix/support", (backend) => {
  const ctx = fixture<{ s: TestServer; bare: TestServer }>(async (ctx) => {
    ctx.s = await startTestServer({
      backend,
      config: {
        well_known: {
          support_page: "https://example.org/help",
          support_contacts: ["m.role.admin @admin:example.org admin@example.org", "m.role.security security@example.org"],
        },
      },
    });
    ctx.bare = await startTestServer({ backend });
  });

  test("contacts and support page, without a token", async () => {
    const r = await new TestClient(ctx.s.url).get("/.well-known/matrix/support");
    expect(r.status).toBe(200);
    assertMatchesSpec("client-server/support", "GET", "/matrix/support", 200, r.body);
    expect(r.body).toEqual({
      contacts: [
        { role: "m.role.admin", matrix_id: "@admin:example.org", email_address: "admin@example.org" },
        { role: "m.role.security", email_address: "security@example.org" },
      ],
      support_page: "https://example.org/help",
    });
  });

  test("404 when nothing is configured", async () => {
    expectError(await new TestClient(ctx.bare.url).get("/.well-known/matrix/support"), 404, "M_NOT_FOUND");
  });
});

test("support_contacts entries are checked at start-up", () => {
  const base = { server_name: "example.org" };
  const dir = tempDir();
  for (const bad of ["admin@example.org", "m.role.admin", "m.role.admin @a:x @b:y", "m.role.admin not-an-address"]) {
    expect(() => validateConfig({ ...base, well_known: { support_contacts: [bad] } }, "hs.toml", dir)).toThrow("support_contacts");
  }
  expect(() => validateConfig({ ...base, well_known: { support_page: "ftp://x" } }, "hs.toml", dir)).toThrow("support_page");
  validateConfig({ ...base, well_known: { support_contacts: ["org.example.role @ops:example.org"] } }, "hs.toml", dir);
});
