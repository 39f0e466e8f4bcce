// IP addresses and CIDR ranges (IPv4 and IPv6), for SSRF protection: outbound requests resolve the
// host themselves, check every address against a deny list and connect to a checked address.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are also checked as their IPv4 address, so a deny list
// of IPv4 ranges cannot be bypassed through the mapped form.

export interface ParsedIp {
  version: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIPv4(s: string): Uint8Array | null {
  const m = IPV4_RE.exec(s);
  if (!m) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1]!;
    // Leading zeros are ambiguous (octal in some parsers): refuse them.
    if (part.length > 1 && part.startsWith("0")) return null;
    const n = Number(part);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIPv6(s0: string): Uint8Array | null {
  let s = s0;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length < 2) return null;
  let tail: Uint8Array | null = null;
  if (s.includes(".")) {
    const lastColon = s.lastIndexOf(":");
    if (lastColon < 0) return null;
    tail = parseIPv4(s.slice(lastColon + 1));
    if (!tail) return null;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const groups: number[] = [];
  const dbl = s.indexOf("::");
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (dbl >= 0) {
    if (s.indexOf("::", dbl + 1) >= 0) return null;
    const left = parseGroups(s.slice(0, dbl));
    const right = parseGroups(s.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return null;
    groups.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  } else {
    const all = parseGroups(s);
    if (!all || all.length !== 8) return null;
    groups.push(...all);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address (IPv6 optionally in brackets, zone IDs ignored); null if not one. */
export function parseIp(s: string): ParsedIp | null {
  const v4 = parseIPv4(s);
  if (v4) return { version: 4, bytes: v4 };
  const inner = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  const v6 = parseIPv6(inner);
  return v6 ? { version: 6, bytes: v6 } : null;
}

export function isIpLiteral(s: string): boolean {
  return parseIp(s) !== null;
}

/** The IPv4 address embedded in an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else null. */
function mappedIPv4(bytes: Uint8Array): Uint8Array | null {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return null;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return null;
  return bytes.slice(12);
}

interface Cidr {
  version: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `addr/prefix` (or a bare address, a /32 or /128). Throws on malformed input. */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf("/");
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const ip = parseIp(addr.trim());
  if (!ip) throw new Error(`not an IP range: ${JSON.stringify(s)}`);
  const max = ip.version === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`not an IP range: ${JSON.stringify(s)}`);
    prefix = Number(p);
  }
  return { version: ip.version, bytes: ip.bytes, prefix };
}

function matches(c: Cidr, bytes: Uint8Array): boolean {
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((c.bytes[i]! & mask) !== (bytes[i]! & mask)) return false;
  }
  return true;
}

/** A set of CIDR ranges. */
export class IpRangeSet {
  readonly #ranges: Cidr[];

  /** Throws on a malformed range. */
  constructor(ranges: readonly string[]) {
    this.#ranges = ranges.map(parseCidr);
  }

  get size(): number {
    return this.#ranges.length;
  }

  /** True when `ip` (an address string) falls in one of the ranges. Non-addresses are never contained. */
  contains(ip: string): boolean {
    const p = parseIp(ip);
    if (!p) return false;
    return this.containsParsed(p);
  }

  containsParsed(p: ParsedIp): boolean {
    const v4 = p.version === 6 ? mappedIPv4(p.bytes) : null;
    for (const r of this.#ranges) {
      if (r.version === p.version && matches(r, p.bytes)) return true;
      if (v4 && r.version === 4 && matches(r, v4)) return true;
    }
    return false;
  }
}

/** Returns the problem with a list of ranges (for config checks), or undefined. */
export function ipRangeProblem(ranges: readonly string[]): string | undefined {
  for (const r of ranges) {
    try {
      parseCidr(r);
    } catch {
      return `IP ranges in CIDR notation (not ${JSON.stringify(r)})`;
    }
  }
  return undefined;
}
