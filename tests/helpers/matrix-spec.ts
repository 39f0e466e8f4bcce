// Where the Matrix spec checkout is: $HS_MATRIX_SPEC, else ../shared/matrix-spec beside the repository.
// Returns null when it is absent (tests that need it skip with one line).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export function matrixSpecDir(): string | null {
  const dir = process.env.HS_MATRIX_SPEC || resolve(import.meta.dir, "../../../shared/matrix-spec");
  return existsSync(join(dir, "data/api")) ? dir : null;
}
