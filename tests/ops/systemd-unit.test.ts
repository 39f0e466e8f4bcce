// contrib/systemd/hs.service: private files (UMask, directory modes), the system-call filter, and
// Documentation= naming hs's own docs (installed beside the binary) before the spec.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/spawn.ts";

const unit = readFileSync(join(ROOT, "contrib/systemd/hs.service"), "utf8");
const directives = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => m[1]);

test("the unit keeps hs's files private and filters system calls", () => {
  expect(directives("UMask")).toEqual(["0077"]);
  expect(directives("StateDirectoryMode")).toEqual(["0700"]);
  expect(directives("SystemCallFilter")).toContain("@system-service");
});

test("Documentation= points at hs's README first, and the install steps put it there", () => {
  const docs = directives("Documentation");
  expect(docs[0]).toBe("file:/usr/local/share/doc/hs/README.md");
  expect(unit).toContain("install -D -m 0644 README.md /usr/local/share/doc/hs/README.md");
});
