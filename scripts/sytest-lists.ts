// Keeps sytest/whitelist.txt and sytest/expected-failures.txt in step with a SyTest run:
//   bun scripts/sytest-lists.ts [RUN_DIR] [--notes FILE ...]
// RUN_DIR is a run-sytest.sh --out folder (default .test-tmp/sytest/run1). Every test that passed is
// added to the whitelist (tests are never removed from it by this script: a whitelisted test that
// fails is a regression to fix, not to forget). expected-failures.txt is rewritten to hold every test
// that failed or was skipped in the run and is not whitelisted, each with its reason: kept from the
// file when it had one, else taken from a notes file ("<file> :: <test name> :: <reason>",
// "<test name> :: <reason>" or "<test name> — <reason>" lines), else the first diagnostic line of the run, marked "not yet fixed".
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const notesFiles: string[] = [];
let run = ".test-tmp/sytest/run1";
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--notes") notesFiles.push(args[++i]!);
  else run = args[i]!;
}

const clean = (n: string) => n.replace(/^\(expected fail\) /, "").replace(/ # (TODO|skip).*$/, "").replace(/ \(\d+ subtests\)$/, "").trim();
const readList = (path: string) =>
  existsSync(path) ? readFileSync(path, "utf8").split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean) : [];

const tap = readFileSync(`${run}/sytest.tap`, "utf8").split("\n");
const passed = new Set<string>();
const failed = new Map<string, string>(); // name → first diagnostic
const skipped = new Map<string, string>();
for (let i = 0; i < tap.length; i++) {
  const line = tap[i]!;
  let m = /^ok \d+ (.*?) # skip (.*)$/.exec(line);
  if (m) {
    skipped.set(clean(m[1]!), `skipped by SyTest: ${m[2]}`);
    continue;
  }
  m = /^ok \d+ (.*)$/.exec(line);
  if (m) {
    passed.add(clean(m[1]!));
    continue;
  }
  m = /^not ok \d+ (.*)$/.exec(line);
  if (m) {
    let diag = "";
    for (let j = i + 1; j < tap.length && tap[j]!.startsWith("#"); j++) {
      const d = tap[j]!.replace(/^#\s*/, "");
      if (d && !/^(Started|Ended):/.test(d) && !/^\d+\.\d+: /.test(d)) {
        diag = d.slice(0, 160);
        break;
      }
    }
    failed.set(clean(m[1]!), diag);
  }
}

const WL = "sytest/whitelist.txt";
const XF = "sytest/expected-failures.txt";
const whitelist = new Set(readList(WL));
const before = whitelist.size;
for (const p of passed) whitelist.add(p);
const header = readFileSync(WL, "utf8").split("\n").filter((l) => l.startsWith("#"));
writeFileSync(WL, [...header, ...[...whitelist].sort()].join("\n") + "\n");

const reasons = new Map<string, string>();
if (existsSync(XF)) {
  for (const l of readFileSync(XF, "utf8").split("\n")) {
    if (l.startsWith("#") || !l.includes("\t")) continue;
    const [name, reason] = l.split("\t");
    if (name && reason && !reason.startsWith("not yet fixed")) reasons.set(name.trim(), reason.trim());
  }
}
for (const f of notesFiles) {
  for (const l of readFileSync(f, "utf8").split("\n")) {
    if (l.startsWith("#")) continue;
    const parts = (l.includes(" :: ") ? l.split(" :: ") : l.split(" — ")).map((p) => p.trim());
    if (parts.length === 3) reasons.set(parts[1]!, parts[2]!);
    else if (parts.length === 2) reasons.set(parts[0]!, parts[1]!);
  }
}
const xfHeader = existsSync(XF) ? readFileSync(XF, "utf8").split("\n").filter((l) => l.startsWith("#")) : [];
const rows: string[] = [];
for (const [name, diag] of [...failed, ...skipped]) {
  if (whitelist.has(name)) continue;
  rows.push(`${name}\t${reasons.get(name) ?? (skipped.has(name) ? diag : `not yet fixed: ${diag}`)}`);
}
writeFileSync(XF, [...xfHeader, ...rows.sort()].join("\n") + "\n");
console.log(`whitelist: ${before} → ${whitelist.size}; expected failures: ${rows.length} (${rows.filter((r) => r.includes("\tnot yet fixed")).length} not yet fixed)`);
