import { describe, expect, test } from "bun:test";
import { globToRegExp, serverAclAllows, serverNameHost } from "./server-acl.ts";

describe("server ACLs", () => {
  test("no ACL event: allow", () => {
    expect(serverAclAllows(undefined, "evil.com")).toBe(true);
  });

  test("missing allow denies everyone, the sender included", () => {
    expect(serverAclAllows({}, "good.org")).toBe(false);
    expect(serverAclAllows({ deny: [] }, "good.org")).toBe(false);
  });

  test("deny wins over allow; ports are ignored", () => {
    const acl = { allow: ["*"], deny: ["evil.com", "*.evil.com"] };
    expect(serverAclAllows(acl, "good.org")).toBe(true);
    expect(serverAclAllows(acl, "evil.com")).toBe(false);
    expect(serverAclAllows(acl, "evil.com:8448")).toBe(false);
    expect(serverAclAllows(acl, "evil.com:1234")).toBe(false);
    expect(serverAclAllows(acl, "sub.evil.com")).toBe(false);
    expect(serverAclAllows(acl, "notevil.com")).toBe(true);
  });

  test("allow list only", () => {
    const acl = { allow: ["*.example.org", "example.org"] };
    expect(serverAclAllows(acl, "example.org")).toBe(true);
    expect(serverAclAllows(acl, "matrix.example.org:8448")).toBe(true);
    expect(serverAclAllows(acl, "example.com")).toBe(false);
    expect(serverAclAllows(acl, "xexample.org")).toBe(false);
  });

  test("globs: * and ? (exactly one character), case-insensitive, whole-name matches, regex characters literal", () => {
    expect(serverAclAllows({ allow: ["ma?rix.org"] }, "matrix.org")).toBe(true);
    expect(serverAclAllows({ allow: ["ma?rix.org"] }, "marix.org")).toBe(false);
    expect(serverAclAllows({ allow: ["MATRIX.ORG"] }, "matrix.org")).toBe(true);
    expect(serverAclAllows({ allow: ["matrix.org"] }, "Matrix.Org")).toBe(true);
    expect(serverAclAllows({ allow: ["matrix.org"] }, "matrixxorg")).toBe(false);
    expect(serverAclAllows({ allow: ["a+b.org"] }, "aab.org")).toBe(false);
    expect(serverAclAllows({ allow: ["a+b.org"] }, "a+b.org")).toBe(true);
    expect(serverAclAllows({ allow: ["*"] }, "")).toBe(true);
    expect(globToRegExp("x*").test("x\ny")).toBe(true);
  });

  test("allow_ip_literals: only an explicit false denies IP literals", () => {
    expect(serverAclAllows({ allow: ["*"] }, "1.2.3.4")).toBe(true);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: true }, "1.2.3.4:8448")).toBe(true);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: "false" }, "1.2.3.4")).toBe(true);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: false }, "1.2.3.4")).toBe(false);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: false }, "[::1]:8448")).toBe(false);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: false }, "[2001:db8::1]")).toBe(false);
    expect(serverAclAllows({ allow: ["*"], allow_ip_literals: false }, "example.org")).toBe(true);
    // IP literals still match globs when allowed.
    expect(serverAclAllows({ allow: ["1.2.3.*"] }, "1.2.3.4")).toBe(true);
    expect(serverAclAllows({ allow: ["*"], deny: ["[::1]"] }, "[::1]:8448")).toBe(false);
  });

  test("malformed content: non-string entries and non-list values are ignored", () => {
    expect(serverAclAllows({ allow: [1, null, "good.org"], deny: "good.org" }, "good.org")).toBe(true);
    expect(serverAclAllows({ allow: "*" }, "good.org")).toBe(false);
    expect(serverAclAllows({ allow: ["*"], deny: [{}] }, "good.org")).toBe(true);
    expect(serverAclAllows(null, "good.org")).toBe(true);
    expect(serverAclAllows("junk", "good.org")).toBe(false);
  });

  test("serverNameHost strips the port and keeps IPv6 brackets", () => {
    expect(serverNameHost("a.org:8448")).toBe("a.org");
    expect(serverNameHost("a.org")).toBe("a.org");
    expect(serverNameHost("[::1]:8448")).toBe("[::1]");
    expect(serverNameHost("[::1]")).toBe("[::1]");
  });
});
