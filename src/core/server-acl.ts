// Server ACLs: whether a server may take part in a room, given the content of the room's
// m.room.server_acl state event. Spec: event schema m.room.server_acl (the ordered algorithm),
// client-server-api "Server Access Control Lists (ACLs) for rooms", server-server-api "Server Access
// Control Lists (ACLs)", appendices "Glob-style matching".
//
// 1. No m.room.server_acl event: allow.
// 2. An IP literal server name, with `allow_ip_literals` present and false: deny.
// 3. The server name (without port) matches a `deny` glob: deny.
// 4. It matches an `allow` glob: allow.
// 5. Otherwise deny.
// Globs are case-insensitive, `*` matches zero or more characters and `?` exactly one. Non-string
// entries, and `allow`/`deny` values that are not arrays, are ignored (as Synapse does); a missing
// `allow` is an empty list, which denies everyone.

import { compileGlob } from "./glob.ts";

/** A regular expression matching the whole string against a Matrix glob, case-insensitively. */
export function globToRegExp(glob: string): RegExp {
  return compileGlob(glob, { caseInsensitive: true });
}

/** The host part of a server name: the port removed, IPv6 brackets kept (`[::1]:8448` → `[::1]`). */
export function serverNameHost(serverName: string): string {
  if (serverName.startsWith("[")) {
    const close = serverName.indexOf("]");
    return close >= 0 ? serverName.slice(0, close + 1) : serverName;
  }
  const colon = serverName.lastIndexOf(":");
  return colon >= 0 ? serverName.slice(0, colon) : serverName;
}

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/** IPv4 literals and bracketed IPv6 literals (the forms a server name can take). */
function isIpLiteralHost(host: string): boolean {
  return IPV4_RE.test(host) || (host.startsWith("[") && host.endsWith("]"));
}

function globList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === "string") : [];
}

/**
 * Whether `serverName` may take part in a room whose m.room.server_acl content is `acl`
 * (undefined when the room has no such event).
 */
export function serverAclAllows(acl: unknown, serverName: string): boolean {
  if (acl === undefined || acl === null) return true;
  const content = typeof acl === "object" && !Array.isArray(acl) ? (acl as Record<string, unknown>) : {};
  const host = serverNameHost(serverName);
  if (content.allow_ip_literals === false && isIpLiteralHost(host)) return false;
  if (globList(content.deny).some((g) => globToRegExp(g).test(host))) return false;
  if (globList(content.allow).some((g) => globToRegExp(g).test(host))) return true;
  return false;
}
