// The client's address and scheme behind reverse proxies. A listener with x_forwarded = true
// believes X-Forwarded-For / X-Forwarded-Proto only when the connection comes from one of its
// trusted_proxies; then the client is the right-most X-Forwarded-For address that is not itself a
// trusted proxy (each proxy appends the address it saw, so entries left of it may be forged).
import { isIpLiteral, IpRangeSet } from "../util/ip-range.ts";

export interface ClientAddress {
  ip: string;
  proto: "http" | "https";
}

export function clientAddress(peer: string, headers: Headers, listenerProto: "http" | "https", trusted: IpRangeSet | undefined): ClientAddress {
  const direct: ClientAddress = { ip: peer, proto: listenerProto };
  if (!trusted || !trusted.contains(peer)) return direct;
  let ip = peer;
  const xff = headers.get("x-forwarded-for");
  if (xff) {
    const hops = xff.split(",").map((h) => h.trim()).filter((h) => h !== "");
    for (let i = hops.length - 1; i >= 0; i--) {
      // "[2001:db8::1]" and "1.2.3.4:5678" forms are tolerated; anything else ends the walk.
      const hop = stripPort(hops[i]!);
      if (!isIpLiteral(hop)) break;
      ip = hop;
      if (!trusted.contains(hop)) break;
    }
  }
  const protoHeader = headers.get("x-forwarded-proto");
  const proto = protoHeader?.split(",").at(-1)?.trim().toLowerCase();
  return { ip, proto: proto === "https" || proto === "http" ? proto : listenerProto };
}

function stripPort(hop: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracket) return bracket[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}
