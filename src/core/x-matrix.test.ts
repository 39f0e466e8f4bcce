import { describe, expect, test } from "bun:test";
import { decodeBase64 } from "./base64.ts";
import { generateSigningKey } from "./signing.ts";
import { formatXMatrix, parseAuthorization, parseXMatrix, requestSignedContent, signRequest } from "./x-matrix.ts";

describe("X-Matrix header parsing", () => {
  test("the spec's example", () => {
    const h = 'X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF..."';
    expect(parseXMatrix(h).auths).toEqual([
      { origin: "origin.hs.example.com", destination: "destination.hs.example.com", key: "ed25519:key1", sig: "ABCDEF..." },
    ]);
  });

  test("unquoted values, colons and base64 padding, spaces around commas and =, any case", () => {
    const h = "x-matrix   Origin=example.org:8448 ,\tKEY = ed25519:a_b ,  sig=abc+/de== , destination = [::1]:8448";
    expect(parseXMatrix(h).auths).toEqual([{ origin: "example.org:8448", destination: "[::1]:8448", key: "ed25519:a_b", sig: "abc+/de==" }]);
  });

  test("quoted values are unescaped", () => {
    const h = 'X-Matrix origin="a\\"b\\\\c",key="ed25519:k",sig="s"';
    expect(parseXMatrix(h).auths[0]!.origin).toBe('a"b\\c');
  });

  test("destination is optional (servers before v1.3); unknown parameters are ignored", () => {
    const h = 'X-Matrix origin=o.org,key="ed25519:k",sig="s",future="x"';
    expect(parseXMatrix(h).auths).toEqual([{ origin: "o.org", destination: undefined, key: "ed25519:k", sig: "s" }]);
  });

  test("several credentials joined by commas (several Authorization headers)", () => {
    const h = 'X-Matrix origin="o.org",key="ed25519:a",sig="s1", X-Matrix origin="o.org",key="ed25519:b",sig="s2"';
    const { auths } = parseXMatrix(h);
    expect(auths.map((a) => a.key)).toEqual(["ed25519:a", "ed25519:b"]);
  });

  test("other schemes are skipped; incomplete credentials are counted", () => {
    const h = 'Bearer abc, X-Matrix origin="o.org",key="ed25519:a"';
    const r = parseXMatrix(h);
    expect(r.auths).toEqual([]);
    expect(r.incomplete).toBe(1);
    expect(parseXMatrix("").auths).toEqual([]);
    expect(parseXMatrix("X-Matrix").auths).toEqual([]);
    expect(parseXMatrix('X-Matrix origin="unterminated').auths).toEqual([]);
  });

  test("the generic parser keeps schemes and parameters apart", () => {
    expect(parseAuthorization('Basic realm="x", X-Matrix a=1,b="2"')).toEqual([
      { scheme: "Basic", params: { realm: "x" } },
      { scheme: "X-Matrix", params: { a: "1", b: "2" } },
    ]);
  });

  test("format → parse round trip, in the form the spec asks senders to use", () => {
    const a = { origin: "o.org:8448", destination: "d.org", key: "ed25519:k1", sig: "c2lnbmF0dXJl" };
    const h = formatXMatrix(a);
    expect(h).toBe('X-Matrix origin="o.org:8448",destination="d.org",key="ed25519:k1",sig="c2lnbmF0dXJl"');
    expect(parseXMatrix(h).auths).toEqual([a]);
  });
});

describe("request signing", () => {
  test("the signed JSON holds method, uri, origin, destination and content (when present)", () => {
    expect(requestSignedContent({ method: "GET", uri: "/_matrix/x?a=1", origin: "o", destination: "d" })).toBe(
      '{"destination":"d","method":"GET","origin":"o","uri":"/_matrix/x?a=1"}',
    );
    expect(requestSignedContent({ method: "PUT", uri: "/u", origin: "o", destination: "d", content: { b: 1, a: [] } })).toBe(
      '{"content":{"a":[],"b":1},"destination":"d","method":"PUT","origin":"o","uri":"/u"}',
    );
  });

  test("signRequest makes a header whose signature verifies over the same JSON", () => {
    const key = generateSigningKey("k1");
    const req = { method: "POST", uri: "/_matrix/federation/v1/x", origin: "o.org", destination: "d.org", content: { x: 1.5 } };
    const { auths } = parseXMatrix(signRequest(req, key));
    expect(auths[0]!.key).toBe("ed25519:k1");
    expect(auths[0]!.destination).toBe("d.org");
    expect(key.verifyKey.verify(requestSignedContent(req), decodeBase64(auths[0]!.sig))).toBe(true);
    expect(key.verifyKey.verify(requestSignedContent({ ...req, uri: "/other" }), decodeBase64(auths[0]!.sig))).toBe(false);
  });
});
