// An upload past max_upload_size gets 413 M_TOO_LARGE that the client can READ: Node's fetch (undici)
// writes the whole body before reading the answer, so a server that answers and closes early makes
// it fail with EPIPE / "other side closed" instead (issue 18). Run with /usr/bin/node, 100 times.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";

const NODE = "/usr/bin/node";
const TRIES = 100;

// Uploads `size` bytes `tries` times with Node's fetch; prints {"status:errcode": n, "error:...": n}.
const SCRIPT = `
const [url, token, size, tries] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const body = new Uint8Array(size).fill(120);
const counts = {};
const add = (k) => (counts[k] = (counts[k] ?? 0) + 1);
for (let i = 0; i < tries; i++) {
  try {
    const res = await fetch(url + "/_matrix/media/v3/upload?filename=big.bin", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/octet-stream" },
      body,
    });
    const j = await res.json().catch(() => ({}));
    add(res.status + ":" + (j.errcode ?? "no errcode"));
  } catch (e) {
    add("error:" + (e.cause?.code ?? e.cause?.message ?? e.message));
  }
}
console.log(JSON.stringify(counts));
`;

describe.skipIf(!existsSync(NODE))("oversized uploads with Node's fetch", () => {
  const dir = tempDir("hs-413-");
  const script = join(dir, "upload.mjs");
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeAll(() => writeFileSync(script, SCRIPT));

  const run = async (s: TestServer, user: TestClient, size: number): Promise<Record<string, number>> => {
    const p = Bun.spawn([NODE, script, s.url, user.accessToken!, String(size), String(TRIES)], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (!out.trim()) throw new Error(err);
    return JSON.parse(out);
  };

  // Both ways a body can be too large: past the listener's bound (the upload limit is the largest
  // body the server takes), and past the upload limit but within the JSON body limit.
  for (const [label, upload, json] of [
    ["past the largest body the server takes", 8 * 1048576, 1048576],
    ["past max_upload_size, within max_json_body_size", 512 * 1024, 1048576],
  ] as const) {
    test(`${label}: limit+1 bytes, ${TRIES} of ${TRIES} read 413 M_TOO_LARGE`, async () => {
      const s = await startTestServer({ config: { media: { max_upload_size: upload }, max_json_body_size: json } });
      servers.push(s);
      const user = await registerUser(s, "uploader");
      expect(await run(s, user, upload + 1)).toEqual({ "413:M_TOO_LARGE": TRIES });
      // And the limit itself still fits.
      const ok = await (async () => { const r = await fetch(`${s.url}/_matrix/media/v3/upload`, { method: "POST", headers: { Authorization: `Bearer ${user.accessToken}` }, body: new Uint8Array(upload) }); return r.status; })();
      expect(ok).toBe(200);
    }, 120_000);
  }
});
