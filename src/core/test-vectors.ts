// Test vectors copied from the spec (content/appendices.md "Canonical JSON" → "Examples" and
// "Cryptographic Test Vectors"). Inputs are written as JSON text, exactly as in the spec, and parsed
// by the tests; expected outputs are the exact strings the spec gives.

/** [input JSON text, expected canonical JSON] — appendix "Canonical JSON", "Examples". */
export const CANONICAL_JSON_VECTORS: readonly (readonly [string, string])[] = [
  ["{}", "{}"],
  ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
  ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
  ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
  [
    `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
    '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
  ],
  ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
  ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
  ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
  ['{\n    "a": null\n}', '{"a":null}'],
  ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
];

/** Appendix "Cryptographic Test Vectors" → "Signing Key". */
export const SIGNING_KEY_SEED_BASE64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
export const SIGNING_SERVER_NAME = "domain";
export const SIGNING_KEY_ID = "ed25519:1";

/** Appendix "JSON Signing": [input, expected signed JSON] as JSON text. */
export const JSON_SIGNING_VECTORS: readonly (readonly [string, string])[] = [
  [
    "{}",
    `{
    "signatures": {
        "domain": {
            "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        }
    }
}`,
  ],
  [
    `{
    "one": 1,
    "two": "Two"
}`,
    `{
    "one": 1,
    "signatures": {
        "domain": {
            "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        }
    },
    "two": "Two"
}`,
  ],
];

/**
 * Appendix "Event Signing": [input event, expected signed event] as JSON text. The events have the
 * room version 1–2 shape (top-level `origin`, `event_id`), and the signatures were made with the
 * pre-v11 redaction algorithm (which keeps `origin`).
 */
export const EVENT_SIGNING_VECTORS: readonly (readonly [string, string])[] = [
  [
    `{
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {
        "age_ts": 1000000
    }
}`,
    `{
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {
        "sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {
        "age_ts": 1000000
    }
}`,
  ],
  [
    `{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {
        "age_ts": 1000000
    }
}`,
    `{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "hashes": {
        "sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {
        "age_ts": 1000000
    }
}`,
  ],
];

/** Appendix "Unpadded Base64" examples: [input (ASCII), encoded]. */
export const BASE64_VECTORS: readonly (readonly [string, string])[] = [
  ["", ""],
  ["f", "Zg"],
  ["fo", "Zm8"],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg"],
  ["fooba", "Zm9vYmE"],
  ["foobar", "Zm9vYmFy"],
];
