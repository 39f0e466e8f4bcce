// Matrix glob-style matching (spec appendices, "Glob-style matching"): `*` matches zero or more
// characters, `?` exactly one; everything else is literal. Used by push rules (event_match), server
// ACLs, sync filters (types/senders) and the URL preview deny list: one compiler, so an escaping bug
// (such as `\-` under the `u` flag, which throws) cannot hide in one copy.

export interface GlobOptions {
  /** Case-insensitive (push rules, server ACLs, host names). Default false. */
  caseInsensitive?: boolean;
  /** `?` matches one character (true, the spec's glob) or is literal (false: filters, which know only `*`). */
  questionMark?: boolean;
  /**
   * Match a substring that starts and ends at a word boundary (start/end, or a character outside
   * [A-Za-z0-9_]) instead of the whole string: push rules' event_match on content.body.
   */
  wordBoundary?: boolean;
}

/** The regular-expression source for a glob; every literal character other than [A-Za-z0-9] is escaped by code point. */
export function globRegexSource(glob: string, questionMark = true): string {
  let out = "";
  for (const ch of glob) {
    if (ch === "*") out += "[\\s\\S]*";
    else if (ch === "?" && questionMark) out += "[\\s\\S]";
    else if (/^[A-Za-z0-9]$/.test(ch)) out += ch;
    else out += `\\u{${ch.codePointAt(0)!.toString(16)}}`;
  }
  return out;
}

const cache = new Map<string, RegExp>();
const CACHE_MAX = 4096;

/** A regular expression for a glob, cached (bounded: patterns can come from untrusted events). */
export function compileGlob(glob: string, opts: GlobOptions = {}): RegExp {
  const key = `${opts.caseInsensitive ? "i" : "c"}${opts.questionMark === false ? "s" : "q"}${opts.wordBoundary ? "w" : "e"}:${glob}`;
  let re = cache.get(key);
  if (re) return re;
  const src = globRegexSource(glob, opts.questionMark !== false);
  const flags = opts.caseInsensitive ? "iu" : "u";
  re = opts.wordBoundary ? new RegExp(`(?:^|[^A-Za-z0-9_])${src}(?:[^A-Za-z0-9_]|$)`, flags) : new RegExp(`^${src}$`, flags);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key, re);
  return re;
}

/** Whether `value` matches the glob `pattern` (see GlobOptions). */
export function globMatch(pattern: string, value: string, opts: GlobOptions = {}): boolean {
  return compileGlob(pattern, opts).test(value);
}
