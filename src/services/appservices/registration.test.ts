import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileNamespaceRegex, loadRegistrations, parseRegistrationText } from "./registration.ts";

const YAML = `
id: "IRC Bridge"
url: "http://127.0.0.1:1234/"
as_token: "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46"
hs_token: "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e"
sender_localpart: "_irc_bot"
namespaces:
  users:
    - exclusive: true
      regex: "@_irc_bridge_.*"
  aliases:
    - exclusive: false
      regex: "#_irc_bridge_.*"
  rooms: []
protocols: [irc]
receive_ephemeral: true
`;

describe("appservice registration files", () => {
  test("the spec's example parses; namespaces match from the start", () => {
    const as = parseRegistrationText(YAML, "irc.yaml", "example.org");
    expect(as.id).toBe("IRC Bridge");
    expect(as.url).toBe("http://127.0.0.1:1234");
    expect(as.sender).toBe("@_irc_bot:example.org");
    expect(as.rateLimited).toBe(true);
    expect(as.receiveEphemeral).toBe(true);
    expect(as.msc3202).toBe(false);
    expect(as.protocols).toEqual(["irc"]);
    expect(as.isExclusiveUser("@_irc_bridge_bob:example.org")).toBe(true);
    expect(as.isInterestedInUser("@_irc_bot:example.org")).toBe(true);
    expect(as.isUserInNamespace("@alice:example.org")).toBe(false);
    // Anchored at the start (Python's re.match), not at the end.
    expect(as.isUserInNamespace("@x_irc_bridge_bob:example.org")).toBe(false);
    expect(as.isAliasInNamespace("#_irc_bridge_chan:example.org")).toBe(true);
    expect(as.isExclusiveAlias("#_irc_bridge_chan:example.org")).toBe(false);
  });

  test("JSON is accepted, url may be null, Python named groups compile", () => {
    const as = parseRegistrationText(
      JSON.stringify({ id: "x", url: null, as_token: "a", hs_token: "h", sender_localpart: "bot", namespaces: { users: [{ regex: "@(?P<n>_x_.*):hs", exclusive: false }] }, rate_limited: false }),
      "x.json",
      "hs",
    );
    expect(as.url).toBeNull();
    expect(as.rateLimited).toBe(false);
    expect(as.receiveEphemeral).toBe(false);
    expect(as.msc3202).toBe(false);
    expect(as.isUserInNamespace("@_x_1:hs")).toBe(true);
    expect(compileNamespaceRegex("@a\\Z").test("@a")).toBe(true);
  });

  test("MSC2409's and MSC3202's unstable keys (as mautrix bridges write them)", () => {
    const as = parseRegistrationText(
      'id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {}\nde.sorunome.msc2409.push_ephemeral: true\norg.matrix.msc3202: true',
      "x.yaml",
      "hs",
    );
    expect(as.receiveEphemeral).toBe(true);
    expect(as.msc3202).toBe(true);
    expect(() => parseRegistrationText("id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {}\norg.matrix.msc3202: yes please", "x.yaml", "hs")).toThrow(
      "org.matrix.msc3202: expected true or false",
    );
  });

  const bad: Array<[string, string]> = [
    ["id: x\nurl: null\nhs_token: h\nsender_localpart: b\nnamespaces: {}", "as_token: expected a non-empty string, found nothing"],
    ["id: x\nurl: ftp://a\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {}", "url: expected an http(s) URL or null"],
    ["id: x\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {}", "url: expected an http(s) URL or null, found nothing"],
    ["id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: B!\nnamespaces: {}", "sender_localpart: expected a user ID localpart"],
    ["id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {users: [{regex: '@(', exclusive: true}]}", "namespaces.users[0].regex: expected a valid regular expression"],
    ["id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {rooms: [{regex: '!.*'}]}", "namespaces.rooms[0].exclusive: expected true or false, found nothing"],
    ["id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b", "namespaces: expected a mapping"],
    ["id: x\nurl: null\nas_token: a\nhs_token: a\nsender_localpart: b\nnamespaces: {}", "hs_token: must differ from as_token"],
    ["id: x\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {}\nrate_limited: 'no'", "rate_limited: expected true or false"],
    ["[1, 2", "not valid YAML or JSON"],
  ];
  for (const [text, message] of bad) {
    test(`invalid: ${message}`, () => {
      expect(() => parseRegistrationText(text, "/etc/hs/bridge.yaml", "hs")).toThrow(`/etc/hs/bridge.yaml: ${message}`);
    });
  }

  test("IDs, as_tokens and senders are unique across files; missing files are named", () => {
    const dir = mkdtempSync(join(tmpdir(), "hs-as-reg-"));
    const doc = (id: string, token: string, sender: string) => `id: ${id}\nurl: null\nas_token: ${token}\nhs_token: h${token}\nsender_localpart: ${sender}\nnamespaces: {}\n`;
    writeFileSync(join(dir, "a.yaml"), doc("a", "t1", "bot_a"));
    writeFileSync(join(dir, "b.yaml"), doc("a", "t2", "bot_b"));
    writeFileSync(join(dir, "c.yaml"), doc("c", "t1", "bot_c"));
    writeFileSync(join(dir, "d.yaml"), doc("d", "t4", "bot_a"));
    expect(loadRegistrations(["a.yaml"], dir, "hs").map((a) => a.id)).toEqual(["a"]);
    expect(() => loadRegistrations(["a.yaml", "b.yaml"], dir, "hs")).toThrow(`${join(dir, "b.yaml")}: id: "a" is already used by ${join(dir, "a.yaml")}`);
    expect(() => loadRegistrations(["a.yaml", "c.yaml"], dir, "hs")).toThrow("c.yaml: as_token: already used");
    expect(() => loadRegistrations(["a.yaml", "d.yaml"], dir, "hs")).toThrow("d.yaml: sender_localpart: @bot_a:hs is already the sender");
    expect(() => loadRegistrations(["missing.yaml"], dir, "hs")).toThrow(`appservices.config_files: cannot read ${join(dir, "missing.yaml")}: ENOENT`);
  });
});
