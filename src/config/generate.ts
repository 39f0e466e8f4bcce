// Renders a commented homeserver.toml from SCHEMA: every option with its documentation and default.
// Options given in `values` are written live; all others are written commented out at their default.
import { SCHEMA, type Field, type Node } from "./schema.ts";

/** TOML value syntax for the scalar and string-array kinds the schema uses. */
export function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v); // JSON string escapes are valid TOML basic-string escapes
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  throw new Error(`cannot render ${typeof v} as TOML`);
}

function fieldLines(key: string, f: Field, value: unknown, set: boolean): string[] {
  const lines = [`# ${f.doc}`];
  if (f.kind === "enum") lines.push(`# One of: ${f.values.join(", ")}.`);
  if (set) lines.push(`${key} = ${tomlValue(value)}`);
  else if (f.kind === "string" && f.default === "" && f.example) lines.push(`#${key} = ${tomlValue(f.example)}`);
  else lines.push(`#${key} = ${tomlValue(f.default)}`);
  return lines;
}

export type ConfigValues = {
  [key: string]: unknown;
};

/**
 * `values` maps "key" or "section.key" (and "listeners" to an array of tables) to the values to
 * write live.
 */
export function renderConfig(values: ConfigValues): string {
  const out: string[] = [
    "# hs homeserver configuration.",
    "# Every option is listed with its documentation; commented-out lines show the default.",
    "# Relative paths are resolved against the directory of this file.",
    "",
  ];
  const schema = SCHEMA as unknown as Record<string, Node>;
  for (const [key, node] of Object.entries(schema)) {
    if (node.kind === "section") continue;
    if (node.kind === "array") continue;
    out.push(...fieldLines(key, node, values[key], key in values), "");
  }
  for (const [key, node] of Object.entries(schema)) {
    if (node.kind === "section") {
      out.push(`# ${node.doc}`, `[${key}]`);
      for (const [k, f] of Object.entries(node.fields)) {
        const full = `${key}.${k}`;
        out.push(...fieldLines(k, f, values[full], full in values));
      }
      out.push("");
    } else if (node.kind === "array") {
      const entries = (values[key] as Record<string, unknown>[] | undefined) ?? node.default;
      for (const entry of entries) {
        out.push(`# ${node.doc}`, `[[${key}]]`);
        for (const [k, f] of Object.entries(node.fields)) {
          out.push(...fieldLines(k, f, entry[k] ?? f.default, true));
        }
        out.push("");
      }
    }
  }
  return out.join("\n");
}
