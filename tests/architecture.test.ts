// Keeps the layers of docs/ARCHITECTURE.md honest: each layer imports only what it may.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const SRC = join(import.meta.dir, "../src");

/** layer → the layers it may import (its own layer always allowed). */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  util: [],
  core: ["protocol", "util"],
  config: ["util", "protocol"],
  storage: ["protocol", "util", "config"],
  services: ["core", "protocol", "storage", "util", "config"],
  http: ["protocol", "services", "util", "config", "core"],
  cli: ["config", "services", "storage", "util", "protocol", "core", "http"],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

test("source layers import only what ARCHITECTURE.md allows", () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    const layer = rel.split("/")[0]!;
    if (!(layer in ALLOWED)) continue; // the composition root (src/homeserver.ts) may import anything
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) continue;
      const target = relative(SRC, resolve(dirname(file), spec));
      if (target.startsWith("..")) continue; // sql/ migrations and the like
      const targetLayer = target.split("/")[0]!;
      if (targetLayer === layer || targetLayer.endsWith(".ts")) {
        // Only the command line (part of the composition root) may reach src/homeserver.ts.
        if (targetLayer.endsWith(".ts") && layer !== "cli") violations.push(`${rel} imports the composition root ${target}`);
        continue;
      }
      if (!ALLOWED[layer]!.includes(targetLayer)) violations.push(`${rel} (${layer}) imports ${target} (${targetLayer})`);
    }
  }
  expect(violations).toEqual([]);
});
