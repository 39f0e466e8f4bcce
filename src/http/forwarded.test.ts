import { expect, test } from "bun:test";
import { IpRangeSet } from "../util/ip-range.ts";
import { clientAddress } from "./forwarded.ts";

const h = (o: Record<string, string>) => new Headers(o);
const trusted = new IpRangeSet(["127.0.0.1/8", "::1/128", "10.0.0.0/8"]);

test("headers are ignored without x_forwarded or from untrusted peers", () => {
  expect(clientAddress("203.0.113.9", h({ "x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https" }), "http", undefined)).toEqual({ ip: "203.0.113.9", proto: "http" });
  expect(clientAddress("203.0.113.9", h({ "x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https" }), "http", trusted)).toEqual({ ip: "203.0.113.9", proto: "http" });
});

test("a trusted proxy: the right-most untrusted address, the proxy's scheme", () => {
  expect(clientAddress("127.0.0.1", h({ "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https" }), "http", trusted)).toEqual({ ip: "198.51.100.7", proto: "https" });
  // A client forging X-Forwarded-For gets its own address appended by the proxy: that one counts.
  expect(clientAddress("::ffff:127.0.0.1", h({ "x-forwarded-for": "6.6.6.6, 198.51.100.7" }), "http", trusted).ip).toBe("198.51.100.7");
  // Chains of trusted proxies are walked through.
  expect(clientAddress("::1", h({ "x-forwarded-for": "198.51.100.7, 10.1.2.3" }), "https", trusted)).toEqual({ ip: "198.51.100.7", proto: "https" });
  expect(clientAddress("127.0.0.1", h({ "x-forwarded-for": "[2001:db8::5]:443, 192.0.2.1:8443" }), "http", trusted).ip).toBe("192.0.2.1");
  // Garbage stops the walk at the last real address; no header keeps the proxy's address.
  expect(clientAddress("127.0.0.1", h({ "x-forwarded-for": "not-an-ip, 198.51.100.7" }), "http", trusted).ip).toBe("198.51.100.7");
  expect(clientAddress("127.0.0.1", h({ "x-forwarded-for": "junk" }), "http", trusted).ip).toBe("127.0.0.1");
  expect(clientAddress("127.0.0.1", h({ "x-forwarded-proto": "gopher" }), "http", trusted)).toEqual({ ip: "127.0.0.1", proto: "http" });
});
