// Test-only: the Matrix reference implementations (Python `canonicaljson` and `signedjson`, as used by
// Synapse) as a differential oracle. One Python process per batch: requests go in as one JSON array
// on stdin (values serialised losslessly, see toLosslessJson) and come back as one JSON array; bytes
// travel as Base64 so nothing is re-encoded on the way.
//
// Debian's /usr/bin/python3 is used on purpose: the `python3` on PATH may be another interpreter
// without the Debian packages. Missing modules are a test failure, never a skip.

import { toLosslessJson } from "./random-json.ts";

export const ORACLE_PYTHON = "/usr/bin/python3";
const INSTALL_HINT = "apt-get install python3-canonicaljson python3-signedjson";

// The Python side. `redact` re-implements the spec's redaction tables independently (it is not a copy
// of the TypeScript code) so that redaction itself is compared too.
const SCRIPT = String.raw`
import sys, json, base64, hashlib
try:
    import canonicaljson
    import signedjson.key
    import signedjson.sign
    from unpaddedbase64 import encode_base64, decode_base64
except ImportError as e:
    sys.stderr.write("ORACLE_IMPORT_ERROR: %s\n" % e)
    sys.exit(3)

MAX = 2**53 - 1

def validate_strict(v):
    # Synapse's validate_canonicaljson: integers in range, no floats.
    if type(v) is int:
        if v < -MAX or v > MAX:
            raise ValueError("integer out of range")
    elif isinstance(v, float):
        raise ValueError("float")
    elif isinstance(v, dict):
        for x in v.values():
            validate_strict(x)
    elif isinstance(v, list):
        for x in v:
            validate_strict(x)

def canon(v, strict):
    if strict:
        validate_strict(v)
    return canonicaljson.encode_canonical_json(v)

TOP_V11 = ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
           "depth", "prev_events", "auth_events", "origin_server_ts"]
TOP_OLD = TOP_V11 + ["prev_state", "membership", "origin"]
PL = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"]
ORDER = ["v1", "v6", "v8", "v9", "v11"]

def redact(ev, alg):
    n = ORDER.index(alg)
    top = TOP_V11 if n >= 4 else TOP_OLD
    out = {k: v for k, v in ev.items() if k in top and k != "content"}
    content = ev.get("content")
    if not isinstance(content, dict):
        content = {}
    t = ev.get("type")
    keep = []
    whole = False
    if t == "m.room.member":
        keep = ["membership"] + (["join_authorised_via_users_server"] if n >= 3 else [])
    elif t == "m.room.create":
        if n >= 4:
            whole = True
        else:
            keep = ["creator"]
    elif t == "m.room.join_rules":
        keep = ["join_rule"] + (["allow"] if n >= 2 else [])
    elif t == "m.room.power_levels":
        keep = PL + (["invite"] if n >= 4 else [])
    elif t == "m.room.aliases":
        keep = ["aliases"] if n == 0 else []
    elif t == "m.room.history_visibility":
        keep = ["history_visibility"]
    elif t == "m.room.redaction":
        keep = ["redacts"] if n >= 4 else []
    if whole:
        nc = dict(content)
    else:
        nc = {k: content[k] for k in keep if k in content}
    if n >= 4 and t == "m.room.member" and isinstance(content.get("third_party_invite"), dict):
        tpi = content["third_party_invite"]
        nc["third_party_invite"] = {"signed": tpi["signed"]} if "signed" in tpi else {}
    out["content"] = nc
    return out

def strip(d, keys):
    return {k: v for k, v in d.items() if k not in keys}

def key_of(r):
    k = signedjson.key.decode_signing_key_base64("ed25519", r["version"], r["seed"])
    return k

def b64(b):
    return base64.b64encode(b).decode()

def handle(r):
    op = r["op"]
    if op == "canonical":
        return b64(canon(r["value"], r["strict"]))
    if op == "sign":
        signed = signedjson.sign.sign_json(dict(r["value"]), r["name"], key_of(r))
        return b64(canonicaljson.encode_canonical_json(signed))
    if op == "verify":
        vk = signedjson.key.decode_verify_key_bytes("ed25519:" + r["version"], decode_base64(r["public"]))
        try:
            signedjson.sign.verify_signed_json(r["value"], r["name"], vk)
            return True
        except signedjson.sign.SignatureVerifyException:
            return False
    if op == "raw_verify":
        import nacl.signing, nacl.exceptions
        try:
            nacl.signing.VerifyKey(decode_base64(r["public"])).verify(decode_base64(r["message"]), decode_base64(r["sig"]))
            return True
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
            return False
    if op == "public_key":
        return signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(key_of(r)))
    if op == "content_hash":
        ev = strip(r["event"], ("unsigned", "signatures", "hashes"))
        return encode_base64(hashlib.sha256(canon(ev, r["strict"])).digest())
    if op == "redact":
        return b64(canon(redact(r["event"], r["alg"]), r["strict"]))
    if op == "reference_hash":
        red = strip(redact(r["event"], r["alg"]), ("signatures", "unsigned"))
        return encode_base64(hashlib.sha256(canon(red, r["strict"])).digest())
    if op == "hash_and_sign":
        # server-server-api.md "Example code": hash_and_sign_event, with the spec's redaction.
        ev = dict(r["event"])
        ch = hashlib.sha256(canon(strip(ev, ("unsigned", "signatures", "hashes")), r["strict"])).digest()
        ev["hashes"] = {"sha256": encode_base64(ch)}
        red = redact(ev, r["alg"])
        if r["strict"]:
            validate_strict(red)
        signed = signedjson.sign.sign_json(red, r["name"], key_of(r))
        ev["signatures"] = signed["signatures"]
        return b64(canonicaljson.encode_canonical_json(ev))
    raise ValueError("unknown op " + op)

out = []
for r in json.loads(sys.stdin.buffer.read()):
    try:
        out.append({"ok": handle(r)})
    except Exception as e:
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
sys.stdout.write(json.dumps(out, ensure_ascii=True))
`;

export type OracleRequest = Record<string, unknown> & { op: string };
export type OracleResponse = { ok: unknown; error?: undefined } | { ok?: undefined; error: string };

let preflightDone = false;

/** Fails loudly, with the install command, when the interpreter or the modules are missing. */
function preflight(): void {
  if (preflightDone) return;
  let r;
  try {
    r = Bun.spawnSync([ORACLE_PYTHON, "-c", "import canonicaljson, signedjson.key, signedjson.sign, unpaddedbase64, nacl"]);
  } catch (e) {
    throw new Error(`cannot run ${ORACLE_PYTHON} (${(e as Error).message}). Install the reference implementations: ${INSTALL_HINT}`);
  }
  if (r.exitCode !== 0) {
    throw new Error(`${ORACLE_PYTHON} lacks the Matrix reference modules (${r.stderr.toString().trim().split("\n").pop()}). Install them: ${INSTALL_HINT}`);
  }
  preflightDone = true;
}

/** Runs a batch of requests through the reference implementations. Throws if Python is unusable. */
export async function runOracle(requests: readonly OracleRequest[]): Promise<OracleResponse[]> {
  preflight();
  const proc = Bun.spawn([ORACLE_PYTHON, "-c", SCRIPT], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const stdoutP = new Response(proc.stdout).text();
  const stderrP = new Response(proc.stderr).text();
  let writeError: unknown = null;
  try {
    proc.stdin.write(toLosslessJson(requests));
    await proc.stdin.end();
  } catch (e) {
    writeError = e; // the process died early; its stderr says why
  }
  const [stdout, stderr, code] = await Promise.all([stdoutP, stderrP, proc.exited]);
  if (code === 3 && stderr.includes("ORACLE_IMPORT_ERROR")) {
    throw new Error(`${ORACLE_PYTHON} lacks the Matrix reference modules (${stderr.trim()}). Install them: ${INSTALL_HINT}`);
  }
  if (code !== 0 || writeError !== null) {
    throw new Error(`python oracle exited with ${code}: ${stderr}${writeError ? ` (${String(writeError)})` : ""}`);
  }
  const out = JSON.parse(stdout) as OracleResponse[];
  if (out.length !== requests.length) throw new Error("python oracle answered a different number of requests");
  return out;
}

/** Decodes an oracle answer carrying bytes (standard padded Base64). */
export function oracleBytes(r: OracleResponse): Uint8Array {
  if (typeof r.ok !== "string") throw new Error(`oracle error: ${r.error}`);
  return Uint8Array.fromBase64(r.ok);
}
