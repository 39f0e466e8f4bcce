import { describe, expect, test } from "bun:test";
import { validateConfig } from "../../config/load.ts";
import { riskySettings } from "./risky-settings.ts";
import { quantile } from "./stats.ts";

const config = (doc: Record<string, unknown>) => validateConfig({ server_name: "example.org", ...doc }, "test", "/srv/hs").config;
const ids = (doc: Record<string, unknown>, modes: Record<string, number> = {}) => riskySettings(config(doc), (p) => modes[p]).map((w) => w.id);

describe("risky settings", () => {
  test("the defaults are not risky", () => {
    expect(ids({})).toEqual([]);
  });

  test("registration: open, weak passwords, guests, a short shared secret", () => {
    expect(ids({ registration: { mode: "open" } })).toEqual(["open_registration", "weak_password_policy"]);
    expect(ids({ registration: { mode: "open" }, password_policy: { minimum_length: 10 } })).toEqual(["open_registration"]);
    expect(ids({ registration: { mode: "token" } })).toEqual([]);
    expect(ids({ registration: { allow_guests: true } })).toEqual(["guest_access"]);
    expect(ids({ registration: { shared_secret: "short" } })).toEqual(["weak_shared_secret"]);
    expect(ids({ registration: { shared_secret: "a-long-random-secret-of-32-chars" } })).toEqual([]);
  });

  test("TLS checks off; federation off makes its own not matter", () => {
    expect(ids({ federation: { verify_tls: false } })).toEqual(["federation_no_tls_verify"]);
    expect(ids({ federation: { verify_tls: false, enabled: false } })).toEqual([]);
    expect(ids({ http_client: { verify_tls: false } })).toEqual(["http_client_no_tls_verify"]);
  });

  test("outbound requests allowed to private addresses", () => {
    expect(ids({ federation: { ip_range_denylist: [] } })).toEqual(["federation_ip_ranges"]);
    expect(ids({ url_preview: { enabled: true, ip_range_denylist: ["127.0.0.0/8"] } })).toEqual(["url_preview_ip_ranges"]);
    expect(ids({ url_preview: { enabled: false, ip_range_denylist: [] } })).toEqual([]);
    const w = riskySettings(config({ http_client: { ip_range_denylist: ["127.0.0.0/8", "::1/128"] } }), () => undefined)[0]!;
    expect(w.message).toContain("10.0.0.1");
    expect(w.message).not.toContain("127.0.0.1,");
  });

  test("listeners: public metrics, plain HTTP to other machines", () => {
    expect(ids({ listeners: [{ bind_address: "0.0.0.0", port: 8008, resources: ["client", "metrics"] }] })).toEqual(["metrics_public_0", "plain_http_0"]);
    expect(ids({ listeners: [{ bind_address: "0.0.0.0", port: 8008, x_forwarded: true }] })).toEqual([]);
    expect(ids({ listeners: [{ bind_address: "127.0.0.1", port: 9000, resources: ["metrics"] }] })).toEqual([]);
  });

  test("data files readable by others (through open directories)", () => {
    const key = "/srv/hs/example.org.signing.key";
    const db = "/srv/hs/homeserver.db";
    const open = { "/": 0o755, "/srv": 0o755, "/srv/hs": 0o755 };
    expect(ids({}, { ...open, [key]: 0o600, [db]: 0o600 })).toEqual([]);
    expect(ids({}, { ...open, [key]: 0o640, [db]: 0o644 })).toEqual(["signing_key_readable", "database_readable"]);
    // A private data directory protects what is in it.
    expect(ids({}, { ...open, "/srv/hs": 0o700, [key]: 0o644, [db]: 0o644 })).toEqual([]);
    // A group-readable key in a directory the group can enter.
    expect(ids({}, { ...open, "/srv/hs": 0o750, [key]: 0o640, [db]: 0o640 })).toEqual(["signing_key_readable"]);
  });
});

describe("latency quantiles from histogram buckets", () => {
  const bounds = [0.001, 0.01, 0.1, 1];
  test("interpolated within the bucket, as histogram_quantile", () => {
    // 10 observations ≤ 1 ms, 10 more ≤ 10 ms.
    expect(quantile(0.5, bounds, [10, 20, 20, 20], 20)).toBeCloseTo(0.001);
    expect(quantile(0.75, bounds, [10, 20, 20, 20], 20)).toBeCloseTo(0.0055);
    expect(quantile(0.25, bounds, [10, 20, 20, 20], 20)).toBeCloseTo(0.0005);
  });
  test("no observations: 0; beyond the last bucket: its bound", () => {
    expect(quantile(0.5, bounds, [0, 0, 0, 0], 0)).toBe(0);
    expect(quantile(0.95, bounds, [0, 0, 0, 1], 10)).toBe(1);
  });
});
