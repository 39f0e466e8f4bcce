// Throughput of the protocol-core primitives on a realistic ~1 KB room event (room version 12).
// Run: ./node_modules/.bin/bun bench/core-crypto.ts [seconds-per-figure]
// Prints one line per figure: `<name> <operations per second>`.

import { canonicalJson } from "../src/core/canonical-json.ts";
import { computeEventId } from "../src/core/event-id.ts";
import { checkContentHash, computeContentHash } from "../src/core/hashes.ts";
import { checkPduFormat, hashAndSignEvent, verifyEventSignatures } from "../src/core/pdu.ts";
import { redactEvent } from "../src/core/redaction.ts";
import { getRoomVersion } from "../src/core/room-versions.ts";
import { signingKeyFromSeed } from "../src/core/signing.ts";

const seconds = Number(process.argv[2] ?? "1");
const rv = getRoomVersion("12");
const key = signingKeyFromSeed(new Uint8Array(32).fill(9), "a_bench");

const body =
  "Here is a message of realistic length, with some unicode (日本語, émoji 🎉) and enough text " +
  "to make the event about one kilobyte once formatted_body and DAG references are in.";
const unsigned = hashAndSignEvent(
  {
    type: "m.room.message",
    room_id: "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
    sender: "@alice:example.org",
    content: {
      msgtype: "m.text",
      body,
      format: "org.matrix.custom.html",
      formatted_body: `<p>${body}</p>`,
      "m.mentions": { user_ids: ["@bob:example.org"] },
      "m.relates_to": { "m.in_reply_to": { event_id: "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg" } },
    },
    origin_server_ts: 1_700_000_000_000,
    depth: 12345,
    prev_events: ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", "$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o"],
    auth_events: [
      "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      "$ccccccccccccccccccccccccccccccccccccccccccc",
    ],
    unsigned: { age: 1234 },
  },
  rv,
  "example.org",
  key,
);
const event: Record<string, unknown> = unsigned;
const size = Buffer.byteLength(canonicalJson(event));
if (checkPduFormat(event, rv).length > 0) throw new Error("bench event is malformed");
const lookup = () => key.verifyKey;

let sink = 0;
function bench(name: string, fn: () => unknown): void {
  // Warm up, then run for `seconds` in batches to keep timer overhead out.
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) {
      const r = fn();
      if (r) sink++;
    }
    n += 200;
    now = performance.now();
  }
  console.log(`${name} ${Math.round((n * 1000) / (now - start))}`);
}

console.log(`# event: ${size} bytes of canonical JSON, room version ${rv.id}, ${seconds}s per figure`);
bench("sign_event_per_s", () => hashAndSignEvent(event, rv, "example.org", key));
bench("verify_event_per_s", () => verifyEventSignatures(event, rv, lookup).ok);
bench("content_hash_per_s", () => computeContentHash(event, rv));
bench("check_content_hash_per_s", () => checkContentHash(event, rv));
bench("redaction_per_s", () => redactEvent(event, rv));
bench("canonical_json_per_s", () => canonicalJson(event));
bench("event_id_per_s", () => computeEventId(event, rv));
bench("format_check_per_s", () => checkPduFormat(event, rv).length === 0);
const message = Buffer.from(canonicalJson(redactEvent(event, rv)));
const signature = key.sign(message);
bench("ed25519_sign_per_s", () => key.sign(message));
bench("ed25519_verify_per_s", () => key.verifyKey.verify(message, signature));
if (sink < 0) console.log(sink);
