// The content fuzzer (tests/helpers/content-fuzz.ts), short: hostile numbers, unicode, nesting and
// duplicate keys at every nested position of valid bodies of the spec's routes. No 5xx allowed.
// The long run with a memory check is `make soak` (scripts/fuzz.ts against dist/hs).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { formatReport, loadCases, runContentFuzz, type FuzzCase } from "../helpers/content-fuzz.ts";
import { matrixSpecDir, noteSpecAbsent } from "../../scripts/matrix-spec.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";

const spec = matrixSpecDir();
if (!spec) {
  noteSpecAbsent("content fuzzing");
  test.skip("content fuzzing (no Matrix spec)", () => {});
}
// About 4,000 requests in all (about 20 s on a quiet machine); `make soak` runs 20,000 per database.
const REQUESTS = Number(process.env.HS_FUZZ_REQUESTS ?? Math.round(4000 / BACKENDS.length));
const SEED = Number(process.env.HS_FUZZ_SEED ?? Date.now() % 1_000_000);

for (const backend of spec ? BACKENDS : []) {
  describe(`content fuzzing [${backend}]`, () => {
    let s: TestServer;
    let cases: FuzzCase[];
    beforeAll(async () => {
      s = await startTestServer({ backend, config: { federation: { enabled: false } } });
      cases = loadCases(spec!);
    });
    afterAll(() => s.stop());

    test(`${REQUESTS} requests with a hostile value inside a valid body: no 5xx`, async () => {
      expect(cases.length).toBeGreaterThan(150);
      const report = await runContentFuzz({ url: s.url, serverName: s.serverName, sharedSecret: s.config.registration.shared_secret! }, cases, {
        requests: REQUESTS,
        seed: SEED,
      });
      console.log(formatReport(report, `[${backend}, HS_FUZZ_SEED=${SEED}]`));
      expect(report.findings.map((f) => `${f.signature} → ${f.status}; minimised: ${f.minimised}`)).toEqual([]);
      expect(report.transportErrors).toEqual([]);
      expect(report.sent).toBeGreaterThan(REQUESTS * 0.9);
    }, 180_000);
  });
}
