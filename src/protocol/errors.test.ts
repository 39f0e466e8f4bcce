import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ERRCODE_STATUS, MatrixError } from "./errors.ts";

test("each errcode has its status in one table; the codes added for the ones thrown without one", () => {
  expect(new MatrixError("M_WRONG_ROOM_KEYS_VERSION", "x").status).toBe(403);
  expect(new MatrixError("M_CONNECTION_TIMEOUT", "x").status).toBe(504);
  expect(new MatrixError("M_BAD_STATUS", "x").status).toBe(502);
  expect(new MatrixError("M_BAD_ALIAS", "x").status).toBe(400);
  expect(new MatrixError("M_LIMIT_EXCEEDED", "x").status).toBe(429);
  expect(new MatrixError("M_NOT_FOUND", "x", {}, 410).status).toBe(410);
});

test("an error relayed from another server keeps its errcode and status", () => {
  const e = MatrixError.relayed("M_SOMETHING_ELSE", "their words", { a: 1 }, 418);
  expect(e.toJSON()).toEqual({ errcode: "M_SOMETHING_ELSE", error: "their words", a: 1 });
  expect(e.status).toBe(418);
  expect(MatrixError.relayed("M_FORBIDDEN", "no").status).toBe(403);
});

test("every errcode written in src/ is in ERRCODE_STATUS", () => {
  const src = join(import.meta.dir, "..");
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith(".ts") && !f.endsWith(".test.ts") ? [join(d, f)] : []));
  const used = new Set<string>();
  for (const f of walk(src)) for (const m of readFileSync(f, "utf8").matchAll(/errcode[^"\n]{0,40}"(M_[A-Z_]+)"|new MatrixError\(\s*"(M_[A-Z_]+)"/g)) used.add((m[1] ?? m[2])!);
  expect([...used].filter((c) => !(c in ERRCODE_STATUS))).toEqual([]);
});
