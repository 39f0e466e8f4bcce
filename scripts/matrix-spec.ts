// Where the Matrix specification's source (OpenAPI files in data/api, prose in content/) is, for the
// tests that check hs against it (tests/helpers/openapi.ts, scripts/spec-coverage.ts). One place:
//
//   1. $HS_MATRIX_SPEC, when set: that directory (set it to a path that does not exist, e.g.
//      HS_MATRIX_SPEC=/nonexistent, to run the tests as a clone without the spec would);
//   2. ../shared/matrix-spec beside the repository (how the project's own machines are laid out).
//
// There is no third, downloaded copy: the spec's source is not published on the npm registry (the
// package @matrix-org/spec holds only sas-emoji.json), and this project fetches nothing else.
// Without a spec, the shape assertions and the coverage test are skipped with one line saying so
// (specAbsentNote); everything else runs.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "..");

let resolved: { dir: string | undefined; tried: string[] } | undefined;

function locate(): { dir: string | undefined; tried: string[] } {
  const env = process.env.HS_MATRIX_SPEC;
  const candidates = env ? [resolve(env)] : [resolve(REPO_ROOT, "../shared/matrix-spec")];
  const dir = candidates.find((d) => existsSync(join(d, "data/api/client-server")));
  return { dir, tried: candidates.map((c) => (env ? `${c} (HS_MATRIX_SPEC)` : c)) };
}

/** The spec's root directory (holding data/api and content), or undefined when none is available. */
export function matrixSpecDir(): string | undefined {
  resolved ??= locate();
  return resolved.dir;
}

/** A path inside the spec, e.g. specPath("data/api/client-server"); undefined without a spec. */
export function specPath(...parts: string[]): string | undefined {
  const d = matrixSpecDir();
  return d ? join(d, ...parts) : undefined;
}

/** The one line printed when the spec is absent. */
export function specAbsentNote(what: string): string {
  resolved ??= locate();
  return `Matrix spec not found (tried ${resolved.tried.join(", ")}; set HS_MATRIX_SPEC to a checkout of matrix-org/matrix-spec): ${what} skipped`;
}

const noted = new Set<string>();
/** Prints specAbsentNote once per process and subject. */
export function noteSpecAbsent(what: string): void {
  if (noted.has(what)) return;
  noted.add(what);
  console.warn(specAbsentNote(what));
}
