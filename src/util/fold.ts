// Text folding for case- and accent-insensitive matching: "Zoë Ärger" → "zoe arger".
// Used by the user directory and the search index so that what is stored and what is searched
// for are folded the same way.

/** Lower case, compatibility-decomposed, without combining marks (accents). */
export function foldText(s: string): string {
  return s
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/ß/g, "ss")
    .replace(/ø/g, "o")
    .replace(/đ/g, "d")
    .replace(/ł/g, "l")
    .replace(/æ/g, "ae")
    .replace(/œ/g, "oe");
}

/** The words (runs of letters and digits) of folded text. */
export function foldedWords(s: string): string[] {
  return foldText(s).match(/[\p{L}\p{N}]+/gu) ?? [];
}
