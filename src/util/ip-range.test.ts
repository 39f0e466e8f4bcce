import { describe, expect, test } from "bun:test";
import { IpRangeSet, ipRangeProblem, parseIp } from "./ip-range.ts";
import { DEFAULT_IP_RANGE_DENYLIST } from "../config/schema.ts";

describe("IP ranges", () => {
  test("parses IPv4 and IPv6 (brackets, ::, embedded IPv4, zone IDs)", () => {
    expect(parseIp("127.0.0.1")?.version).toBe(4);
    expect(parseIp("::1")?.bytes[15]).toBe(1);
    expect(parseIp("[::1]")?.version).toBe(6);
    expect(parseIp("fe80::1%eth0")?.bytes[0]).toBe(0xfe);
    expect([...parseIp("::ffff:10.1.2.3")!.bytes.slice(12)]).toEqual([10, 1, 2, 3]);
    for (const bad of ["", "1.2.3", "256.1.1.1", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "example.org", "::g"]) {
      expect(parseIp(bad)).toBeNull();
    }
  });

  test("the default deny list covers loopback, private and link-local addresses, not public ones", () => {
    const deny = new IpRangeSet(DEFAULT_IP_RANGE_DENYLIST);
    for (const ip of ["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "ff02::1"]) {
      expect([ip, deny.contains(ip)]).toEqual([ip, true]);
    }
    for (const ip of ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "172.32.0.1"]) expect([ip, deny.contains(ip)]).toEqual([ip, false]);
  });

  test("IPv4-mapped IPv6 addresses are checked as IPv4", () => {
    const deny = new IpRangeSet(["127.0.0.0/8"]);
    expect(deny.contains("::ffff:127.0.0.1")).toBe(true);
    expect(deny.contains("::ffff:8.8.8.8")).toBe(false);
  });

  test("prefix lengths that are not multiples of 8; bare addresses", () => {
    const s = new IpRangeSet(["172.16.0.0/12", "2001:db8::/33", "9.9.9.9"]);
    expect(s.contains("172.31.255.255")).toBe(true);
    expect(s.contains("172.32.0.0")).toBe(false);
    expect(s.contains("2001:db8:7fff::1")).toBe(true);
    expect(s.contains("2001:db8:8000::1")).toBe(false);
    expect(s.contains("9.9.9.9")).toBe(true);
    expect(s.contains("9.9.9.8")).toBe(false);
    expect(new IpRangeSet(["0.0.0.0/0"]).contains("1.2.3.4")).toBe(true);
    expect(new IpRangeSet([]).contains("127.0.0.1")).toBe(false);
  });

  test("config check", () => {
    expect(ipRangeProblem(["10.0.0.0/8", "::1/128"])).toBeUndefined();
    expect(ipRangeProblem(["10.0.0.0/33"])).toContain("CIDR");
    expect(ipRangeProblem(["nonsense"])).toContain("nonsense");
  });
});
