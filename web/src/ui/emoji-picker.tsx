// A full emoji picker with search, for the composer and for reactions. The emoji list (emoji-data.ts,
// ~11 KB gzip) is a chunk of its own, loaded the first time a picker opens; recently used emoji are
// remembered in localStorage and shown first.
import { useEffect, useRef, useState } from "preact/hooks";
import { Dialog, Spinner } from "./common.tsx";

export interface EmojiGroup {
  name: string;
  emoji: Array<{ e: string; name: string }>;
}

let groups: Promise<EmojiGroup[]> | undefined;

/** The emoji list, parsed once (a lazy chunk). */
export function loadEmoji(): Promise<EmojiGroup[]> {
  groups ??= import("../emoji-data.ts").then(({ EMOJI_DATA }) =>
    EMOJI_DATA.map((line) => {
      const [name, ...rest] = line.split("\t");
      const emoji: EmojiGroup["emoji"] = [];
      for (let i = 0; i + 1 < rest.length; i += 2) emoji.push({ e: rest[i]!, name: rest[i + 1]! });
      return { name: name!, emoji };
    }),
  );
  return groups;
}

const RECENT_KEY = "hs.recentEmoji";

export function recentEmoji(): string[] {
  try {
    const l = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]") as unknown;
    return Array.isArray(l) ? l.filter((x): x is string => typeof x === "string").slice(0, 16) : [];
  } catch {
    return [];
  }
}

function remember(e: string): void {
  localStorage.setItem(RECENT_KEY, JSON.stringify([e, ...recentEmoji().filter((x) => x !== e)].slice(0, 16)));
}

/** The picker as a dialog: search by name, pick one (the dialog closes). */
export function EmojiPicker({ title, onPick, onClose }: { title: string; onPick: (emoji: string) => void; onClose: () => void }) {
  const [all, setAll] = useState<EmojiGroup[] | null>(null);
  const [error, setError] = useState("");
  const [q, setQ] = useState("");
  const search = useRef<HTMLInputElement>(null);
  useEffect(() => {
    void loadEmoji().then(setAll, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    search.current?.focus();
  }, []);
  const pick = (e: string) => {
    remember(e);
    onPick(e);
    onClose();
  };
  const words = q.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown: EmojiGroup[] = !all
    ? []
    : words.length
      ? [{ name: "Results", emoji: all.flatMap((g) => g.emoji).filter((x) => words.every((w) => x.name.includes(w))) }]
      : [{ name: "Recently used", emoji: recentEmoji().map((e) => ({ e, name: all.flatMap((g) => g.emoji).find((x) => x.e === e)?.name ?? e })) }, ...all].filter((g) => g.emoji.length);
  return (
    <Dialog title={title} onClose={onClose} focusFirst={false}>
      <input ref={search} class="emoji-search" type="search" aria-label="Search emoji" placeholder="Search emoji" value={q} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} onKeyDown={(e) => {
        if (e.key === "Enter" && shown[0]?.emoji[0]) {
          e.preventDefault();
          pick(shown[0].emoji[0].e);
        }
      }} />
      <div class="emoji-grid-wrap">
        {error ? (
          <p class="error">{error}</p>
        ) : !all ? (
          <Spinner label="Loading emoji" />
        ) : shown.length === 0 || shown[0]!.emoji.length === 0 ? (
          <p class="muted">No emoji match “{q}”.</p>
        ) : (
          shown.map((g) => (
            <section key={g.name} aria-label={g.name}>
              <h3 class="panel-sub">{g.name}</h3>
              <div class="emoji-grid" role="group" aria-label={g.name}>
                {g.emoji.map((x) => (
                  <button type="button" key={x.e} class="emoji-btn" title={x.name} aria-label={x.name} onClick={() => pick(x.e)}>
                    {x.e}
                  </button>
                ))}
              </div>
            </section>
          ))
        )}
      </div>
    </Dialog>
  );
}
