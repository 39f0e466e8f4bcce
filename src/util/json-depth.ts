// Nesting depth of parsed JSON, measured without recursion (JSON.parse itself accepts a million
// levels; code that recurses over such a value would overflow the stack).

/**
 * The path (e.g. `a.b[3]`) of the first object or array nested more than `max` levels deep in
 * `value` (the top-level value is level 1), or null when there is none.
 */
export function jsonTooDeep(value: unknown, max: number): string | null {
  if (value === null || typeof value !== "object") return null;
  // The common case (nothing too deep) allocates no per-node objects: values and depths on two stacks.
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop()!;
    const d = depths.pop()!;
    if (d > max) return pathTo(value, max);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const c: unknown = v[i];
        if (c !== null && typeof c === "object") {
          values.push(c);
          depths.push(d + 1);
        }
      }
    } else {
      for (const k in v) {
        const c = (v as Record<string, unknown>)[k];
        if (c !== null && typeof c === "object") {
          values.push(c);
          depths.push(d + 1);
        }
      }
    }
  }
  return null;
}

/** The path to the first value deeper than `max` (known to exist), walked again keeping parents. */
function pathTo(value: object, max: number): string {
  interface Frame {
    v: object;
    depth: number;
    parent: Frame | null;
    key: string | number;
  }
  const stack: Frame[] = [{ v: value, depth: 1, parent: null, key: "" }];
  let found: Frame | undefined;
  while (stack.length > 0 && !found) {
    const f = stack.pop()!;
    if (f.depth > max) found = f;
    else if (Array.isArray(f.v)) {
      for (let i = 0; i < f.v.length; i++) {
        const c: unknown = f.v[i];
        if (c !== null && typeof c === "object") stack.push({ v: c, depth: f.depth + 1, parent: f, key: i });
      }
    } else {
      for (const k in f.v) {
        const c = (f.v as Record<string, unknown>)[k];
        if (c !== null && typeof c === "object") stack.push({ v: c, depth: f.depth + 1, parent: f, key: k });
      }
    }
  }
  const parts: Array<string | number> = [];
  for (let p: Frame | null = found ?? null; p && p.parent; p = p.parent) parts.push(p.key);
  parts.reverse();
  // A path 10,000 levels long says no more than its first steps and its length.
  const shown = parts.length > 12 ? parts.slice(0, 8) : parts;
  let s = "";
  for (const k of shown) s += typeof k === "number" ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  if (shown.length < parts.length) s += `… (${parts.length} levels)`;
  return s.startsWith(".") ? s.slice(1) : s || "(top level)";
}
