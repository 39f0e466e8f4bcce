import { expect, test } from "bun:test";
import { queryName } from "./instrumented.ts";

test("statement names: verb, table, hash; stable across whitespace, IN-list lengths and $n parameters", () => {
  const a = queryName("SELECT event_id FROM events WHERE room_id = ? AND event_id IN (?, ?, ?)");
  expect(a).toMatch(/^select_events_[0-9a-f]{6}$/);
  expect(queryName("SELECT event_id\n  FROM events WHERE room_id = ? AND event_id IN (?,?,?,?,?,?)")).toBe(a);
  expect(queryName("SELECT event_id FROM events WHERE room_id = $1 AND event_id IN ($2, $3)")).toBe(a);
  expect(queryName("SELECT event_id FROM events WHERE room_id = ?")).not.toBe(a);
  expect(queryName("SELECT event_id FROM events WHERE room_id = ? AND event_id IN (?)")).toBe(a);
  expect(queryName("INSERT INTO users (name, ts) VALUES (?, ?)")).toMatch(/^insert_users_/);
  expect(queryName("INSERT INTO users (name, ts) VALUES (?, ?), (?, ?), (?, ?)")).toBe(queryName("INSERT INTO users (name, ts) VALUES (?, ?)"));
  expect(queryName("UPDATE rooms SET x = ? WHERE room_id = ?")).toMatch(/^update_rooms_/);
  expect(queryName("DELETE FROM receipts WHERE a = ?")).toMatch(/^delete_receipts_/);
  expect(queryName("WITH RECURSIVE t(x) AS (SELECT 1) SELECT * FROM state_groups")).toMatch(/^with_/);
});
