// Client-Server API coverage (scripts/spec-coverage.ts): every endpoint routed when the baseline
// was written is still routed, and the spec files are read as expected (157 non-deprecated
// endpoints in v1.19; deprecated ones left out).
import { expect, test } from "bun:test";
import { noteSpecAbsent } from "../scripts/matrix-spec.ts";
import { computeCoverage, endpointKey, readBaseline, SPEC_CS_DIR, specCoverage, specEndpoints } from "../scripts/spec-coverage.ts";

// Without the spec (a clone on its own): the two tests that read it are skipped, with one line.
const withSpec = SPEC_CS_DIR ? test : test.skip;
if (!SPEC_CS_DIR) noteSpecAbsent("the Client-Server API coverage tests");

withSpec("every endpoint of the coverage baseline is routed", async () => {
  const cov = await specCoverage();
  const covered = new Set(cov.covered.map(endpointKey));
  const lost = readBaseline().filter((k) => !covered.has(k));
  expect(lost).toEqual([]);
  expect(cov.covered.length).toBeGreaterThanOrEqual(readBaseline().length);
  expect(cov.covered.length + cov.missing.length).toBe(cov.total);
});

withSpec("the spec's endpoints: 157 non-deprecated in v1.19, deprecated ones excluded, paths complete", () => {
  const eps = specEndpoints();
  expect(eps).toHaveLength(157);
  const keys = new Set(eps.map(endpointKey));
  expect(keys.has("GET /_matrix/client/v3/sync")).toBe(true);
  expect(keys.has("GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}")).toBe(true);
  expect(keys.has("GET /.well-known/matrix/client")).toBe(true);
  // peeking_events.yaml's "/events " is the non-deprecated GET /events; old_sync.yaml's are deprecated.
  expect(keys.has("GET /_matrix/client/v3/events")).toBe(true);
  expect(keys.has("GET /_matrix/client/v3/initialSync")).toBe(false);
  expect(keys.has("GET /_matrix/client/v3/events/{eventId}")).toBe(false);
});

test("route matching: parameters, wildcards and methods", () => {
  const eps = [
    { method: "GET", path: "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}", file: "x" },
    { method: "PUT", path: "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}", file: "x" },
    { method: "DELETE", path: "/_matrix/client/v3/devices/{deviceId}", file: "x" },
  ];
  const cov = computeCoverage(eps, [
    { method: "GET", path: "/_matrix/client/v3/rooms/:roomId/state/:eventType/:stateKey" },
    { method: "PUT", path: "/_matrix/client/v3/pushrules/*" },
    { method: "GET", path: "/_matrix/client/v3/devices/:deviceId" },
  ]);
  expect(cov.covered.map((e) => e.method)).toEqual(["GET", "PUT"]);
  expect(cov.missing.map(endpointKey)).toEqual(["DELETE /_matrix/client/v3/devices/{deviceId}"]);
});
