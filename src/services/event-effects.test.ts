import { expect, test } from "bun:test";
import { EVENT_CALLBACKS, EVENT_EFFECTS, EventEffects } from "./event-effects.ts";

const allSet = () => {
  const e = new EventEffects();
  for (const [phase, names] of Object.entries(EVENT_EFFECTS)) for (const name of names) e.set(phase as never, name as never, null);
  return e;
};
const callbacks = Object.fromEntries(EVENT_CALLBACKS.map((n) => [n, null]));

test("effects run in declared order, whatever order the services set them in", () => {
  const e = new EventEffects();
  const ran: string[] = [];
  const names = [...EVENT_EFFECTS.afterPersist];
  for (const name of [...names].reverse()) e.set("afterPersist", name, () => void ran.push(name));
  for (const h of e.handlers("afterPersist")) h({} as never, 0);
  expect(ran).toEqual(names);
});

test("a declared effect or callback never set fails the start-up check; null is deliberately off", () => {
  expect(() => new EventEffects().assertComplete(callbacks)).toThrow(/declared but never set: beforeLocal\/relations.localRules/);
  expect(() => allSet().assertComplete(callbacks)).not.toThrow();
  expect(() => allSet().assertComplete({ ...callbacks, policySign: undefined })).toThrow(/callback policySign/);
  expect(allSet().handlers("inTransaction")).toEqual([]);
});

test("an undeclared or twice-set effect is refused", () => {
  const e = new EventEffects();
  expect(() => e.set("afterPersist", "nope" as never, null)).toThrow(/not declared/);
  e.set("afterPersist", "metrics.count", () => {});
  expect(() => e.set("afterPersist", "metrics.count", () => {})).toThrow(/set twice/);
});
