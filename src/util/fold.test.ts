import { expect, test } from "bun:test";
import { foldText, foldedWords } from "./fold.ts";

test("folds case and accents", () => {
  expect(foldText("Zoë ÄRGER Straße Øre")).toBe("zoe arger strasse ore");
  expect(foldText("Ｆｕｌｌｗｉｄｔｈ")).toBe("fullwidth");
});

test("words are runs of letters and digits", () => {
  expect(foldedWords("Hello, wörld! it's 3.14 — e-mail_x")).toEqual(["hello", "world", "it", "s", "3", "14", "e", "mail", "x"]);
  expect(foldedWords("   ")).toEqual([]);
});
