// SAS (emoji) verification started by a matrix-js-sdk client (Rust crypto) against the web client:
// the js-sdk side starts m.sas.v1 on a request the web client accepted, confirms its emoji, and the
// web dialog must show the same seven.
import { expect } from "bun:test";
import { VerifierEvent, type VerificationRequest } from "matrix-js-sdk/lib/crypto-api/verification.js";
import type { Locator } from "playwright-core";
import { waitFor } from "../e2ee/sdk-crypto.ts";

/** Starts SAS from the js-sdk; returns the web dialog's emoji (equal to the js-sdk's) and the js-sdk's verify(). */
export async function sasFromSdk(req: VerificationRequest, dialog: Locator, timeout: number): Promise<{ emoji: string[]; verified: Promise<void> }> {
  const verifier = await req.startVerification("m.sas.v1");
  let sdkEmoji: string[] = [];
  verifier.on(VerifierEvent.ShowSas, (sas) => {
    sdkEmoji = (sas.sas.emoji ?? []).map(([, name]) => name);
    void sas.confirm();
  });
  const verified = verifier.verify();
  const list = dialog.getByRole("list", { name: "Emoji to compare" });
  await list.waitFor({ timeout });
  await waitFor(() => (sdkEmoji.length ? true : undefined), "js-sdk showing the emoji");
  const emoji = (await list.locator("li .small").allTextContents()).map((t) => t.trim());
  expect(emoji).toEqual(sdkEmoji);
  return { emoji, verified };
}
