// Per-user storage quotas ([media] max_storage_per_user): an upload that would take a user past it
// gets 403 M_USER_LIMIT_EXCEEDED with the configured info_uri (spec v1.18 common error code), whether
// the size was declared or only known after streaming, for both upload forms; nothing is stored;
// deleting media frees room again; server admins are not limited. On both databases.
import { expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const INFO = "https://example.org/storage-help";

async function post(c: TestClient, bytes: number, chunked = false): Promise<{ status: number; body: any }> {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  // A stream has no Content-Length: the server learns the size while receiving it.
  const body: BodyInit = chunked ? new ReadableStream({ start: (ctl) => (ctl.enqueue(data), ctl.close()) }) : data;
  const res = await fetch(`${c.baseUrl}/_matrix/media/v3/upload`, { method: "POST", headers: { Authorization: `Bearer ${c.accessToken}`, "Content-Type": "application/octet-stream" }, body });
  return { status: res.status, body: await res.json() };
}

describeOnBackends("media storage quota", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; admin: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { media: { max_storage_per_user: 5000, quota_info_uri: INFO } } });
    ctx.alice = await registerUser(ctx.s, "quota_alice");
    ctx.admin = await registerUser(ctx.s, "quota_admin", "password", true);
  });

  const usage = async () => (await ctx.admin.ok("GET", `/_synapse/admin/v1/users/${encodeURIComponent(ctx.alice.userId!)}/media`)).media.reduce((n: number, m: any) => n + m.media_length, 0);

  test("uploads up to the quota; beyond it 403 M_USER_LIMIT_EXCEEDED with info_uri, declared or streamed; nothing stored", async () => {
    expect((await post(ctx.alice, 3000)).status).toBe(200);
    const second = await post(ctx.alice, 1500);
    expect(second.status).toBe(200);
    for (const chunked of [false, true]) {
      const r = await post(ctx.alice, 1000, chunked);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ errcode: "M_USER_LIMIT_EXCEEDED", info_uri: INFO, can_upgrade: false });
    }
    // The asynchronous form too.
    const { content_uri } = await ctx.alice.ok("POST", "/_matrix/media/v1/create", {});
    const res = await fetch(`${ctx.alice.baseUrl}/_matrix/media/v3/upload/${content_uri.slice("mxc://".length)}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${ctx.alice.accessToken}`, "Content-Type": "application/octet-stream" },
      body: new Uint8Array(800),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).errcode).toBe("M_USER_LIMIT_EXCEEDED");
    expect(await usage()).toBe(4500);
    // A small one still fits.
    expect((await post(ctx.alice, 500, true)).status).toBe(200);
    expect((await post(ctx.alice, 1)).status).toBe(403);

    // Deleting media makes room.
    const mxc = second.body.content_uri as string;
    await ctx.admin.ok("DELETE", `/_synapse/admin/v1/media/${mxc.slice("mxc://".length)}`);
    expect((await post(ctx.alice, 1200)).status).toBe(200);
  });

  test("server admins are not limited", async () => {
    for (let i = 0; i < 3; i++) expect((await post(ctx.admin, 3000)).status).toBe(200);
  });
});
