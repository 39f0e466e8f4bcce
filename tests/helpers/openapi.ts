// Checks response bodies against the spec's OpenAPI files (data/api of the spec that
// scripts/matrix-spec.ts finds). Without a spec the checks pass, and one line says they were skipped.
// A small JSON-schema subset: type, properties, required, items, additionalProperties, enum,
// allOf/anyOf/oneOf, patternProperties, $ref (relative files and #/ pointers).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { noteSpecAbsent, specPath } from "../../scripts/matrix-spec.ts";

const SPEC_API = specPath("data/api");

/** The spec file, or undefined (after one line saying the shape checks are skipped) without a spec. */
function specFile(file: string): string | undefined {
  if (!SPEC_API) {
    noteSpecAbsent("response and request shape checks against the OpenAPI schemas");
    return undefined;
  }
  return join(SPEC_API, `${file}.yaml`);
}

type Schema = Record<string, any>;
const fileCache = new Map<string, any>();

function loadYaml(path: string): any {
  let doc = fileCache.get(path);
  if (!doc) {
    doc = Bun.YAML.parse(readFileSync(path, "utf8"));
    fileCache.set(path, doc);
  }
  return doc;
}

function pointer(doc: any, ptr: string): any {
  if (!ptr || ptr === "/") return doc;
  return ptr
    .replace(/^\//, "")
    .split("/")
    .reduce((o, k) => o?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
}

/** Resolves a $ref relative to the file it appears in: returns [schema, its file]. */
function deref(schema: Schema, file: string): [Schema, string] {
  let s = schema;
  let f = file;
  while (s && typeof s.$ref === "string") {
    const [path, frag] = s.$ref.split("#");
    if (path) f = join(dirname(f), path);
    s = pointer(loadYaml(f), frag ?? "");
  }
  return [s, f];
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function check(value: unknown, schema0: Schema, file: string, path: string, errors: string[]): void {
  const [schema, f] = deref(schema0, file);
  if (!schema || typeof schema !== "object") return;
  if (schema.allOf) for (const s of schema.allOf) check(value, s, f, path, errors);
  for (const key of ["anyOf", "oneOf"] as const) {
    if (schema[key]) {
      const ok = (schema[key] as Schema[]).some((s) => {
        const e: string[] = [];
        check(value, s, f, path, e);
        return e.length === 0;
      });
      if (!ok) errors.push(`${path}: matches none of ${key}`);
    }
  }
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) {
      errors.push(`${path}: expected ${types.join("|")}, got ${t}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}: missing required '${r}'`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties?.[k]) check(v, schema.properties[k], f, `${path}.${k}`, errors);
      else if (schema.patternProperties) {
        for (const [pat, s] of Object.entries(schema.patternProperties)) if (new RegExp(pat).test(k)) check(v, s as Schema, f, `${path}.${k}`, errors);
      } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
        check(v, schema.additionalProperties, f, `${path}.${k}`, errors);
      } else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property '${k}'`);
    }
  }
  if (typeOf(value) === "array" && schema.items) {
    (value as unknown[]).forEach((v, i) => check(v, schema.items, f, `${path}[${i}]`, errors));
  }
}

/**
 * Validates `body` against the response schema of `method path` → `status` in `api/<file>.yaml`
 * (e.g. "client-server/versions"). Returns the list of problems (empty when valid).
 */
export function schemaErrors(file: string, method: string, path: string, status: number, body: unknown): string[] {
  const full = specFile(file);
  if (!full) return [];
  const doc = loadYaml(full);
  const op = doc.paths?.[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${file}.yaml has no ${method} ${path}`);
  const [resp, respFile] = deref(op.responses?.[String(status)] ?? {}, full);
  const schema = resp?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${file}.yaml: ${method} ${path} has no JSON schema for ${status}`);
  const errors: string[] = [];
  check(body, schema, respFile, "$", errors);
  return errors;
}

/** Throws with the list of problems when `body` does not match the spec's schema. */
export function assertMatchesSpec(file: string, method: string, path: string, status: number, body: unknown): void {
  const errors = schemaErrors(file, method, path, status, body);
  if (errors.length) throw new Error(`response does not match ${file} ${method} ${path} ${status}:\n  ${errors.join("\n  ")}`);
}

/**
 * Validates a request body against the spec's schema for `method path` in `api/<file>.yaml` (e.g.
 * what a push gateway or an application service received from hs). Returns the problems.
 */
export function requestSchemaErrors(file: string, method: string, path: string, body: unknown): string[] {
  const full = specFile(file);
  if (!full) return [];
  const doc = loadYaml(full);
  const op = doc.paths?.[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${file}.yaml has no ${method} ${path}`);
  const [req, reqFile] = deref(op.requestBody ?? {}, full);
  const schema = req?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${file}.yaml: ${method} ${path} has no JSON request schema`);
  const errors: string[] = [];
  check(body, schema, reqFile, "$", errors);
  return errors;
}

/** Throws with the list of problems when a request body does not match the spec's schema. */
export function assertRequestMatchesSpec(file: string, method: string, path: string, body: unknown): void {
  const errors = requestSchemaErrors(file, method, path, body);
  if (errors.length) throw new Error(`request does not match ${file} ${method} ${path}:\n  ${errors.join("\n  ")}`);
}
