// Choosing a person by name: an input that suggests users from the server's user directory
// (POST /user_directory/search) as you type, and resolves what was typed — a full user ID, a bare
// user name on this server, or a name the directory knows — to a user ID.
import { useEffect, useState } from "preact/hooks";
import { arr, obj, str } from "../api.ts";
import type { Client } from "../client.ts";
import { Avatar, useClient } from "./common.tsx";

export interface DirectoryUser {
  userId: string;
  name: string;
  avatar?: string;
}

export async function searchUsers(client: Client, term: string, limit = 8): Promise<DirectoryUser[]> {
  const r = await client.api.post("/_matrix/client/v3/user_directory/search", { search_term: term, limit });
  return arr(r.results)
    .map(obj)
    .map((u) => ({ userId: str(u.user_id) ?? "", name: str(u.display_name) ?? str(u.user_id) ?? "", avatar: str(u.avatar_url) }))
    .filter((u) => u.userId && u.userId !== client.userId);
}

/** What was typed as a user ID: "@a:b" as is, "alice" as @alice on this server, else the directory's only or exact match. */
export async function resolveUser(client: Client, text: string): Promise<string> {
  const t = text.trim();
  if (/^@[^:\s]+:\S+$/.test(t)) return t;
  if (/^@?[a-z0-9._=\-/+]+$/.test(t)) return `@${t.replace(/^@/, "")}:${client.serverName}`;
  const found = await searchUsers(client, t);
  const exact = found.filter((u) => u.name.toLowerCase() === t.toLowerCase());
  if (exact.length === 1) return exact[0]!.userId;
  if (found.length === 1) return found[0]!.userId;
  throw new Error(found.length ? `Several people match “${t}”: pick one from the list.` : `Nobody called “${t}” was found. Enter a user ID, like @alice:${client.serverName}.`);
}

/** The input with directory suggestions (a listbox under it). */
export function UserPicker({ value, onInput, label, id }: { value: string; onInput: (v: string) => void; label: string; id?: string }) {
  const client = useClient();
  const [results, setResults] = useState<DirectoryUser[]>([]);
  const [open, setOpen] = useState(false);
  const [index, setIndex] = useState(0);
  useEffect(() => {
    const t = value.trim();
    if (t.length < 2 || /^@[^:\s]+:\S+$/.test(t)) return setResults([]);
    let live = true;
    const timer = setTimeout(() => {
      void searchUsers(client, t).then(
        (r) => {
          if (!live) return;
          setResults(r);
          setIndex(0);
        },
        () => live && setResults([]),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [value]);
  const choose = (u: DirectoryUser) => {
    onInput(u.userId);
    setOpen(false);
  };
  const shown = open && results.length > 0;
  return (
    <div class="user-picker">
      <input
        id={id}
        name="user"
        aria-label={label}
        required
        role="combobox"
        aria-expanded={shown}
        aria-autocomplete="list"
        value={value}
        autocapitalize="none"
        spellcheck={false}
        placeholder={`A name, or @name:${client.serverName}`}
        onInput={(e) => {
          onInput((e.currentTarget as HTMLInputElement).value);
          setOpen(true);
        }}
        onKeyDown={(e) => {
          if (!shown) return;
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            e.preventDefault();
            setIndex((index + (e.key === "ArrowDown" ? 1 : results.length - 1)) % results.length);
          } else if (e.key === "Enter") {
            e.preventDefault();
            choose(results[index]!);
          } else if (e.key === "Escape") {
            e.stopPropagation();
            setOpen(false);
          }
        }}
      />
      {shown && (
        <ul class="autocomplete below" role="listbox" aria-label="People found">
          {results.map((u, i) => (
            <li key={u.userId} role="option" aria-selected={i === index} class={i === index ? "active" : ""} onMouseDown={(e) => {
              e.preventDefault();
              choose(u);
            }}>
              <Avatar id={u.userId} name={u.name} mxc={u.avatar} size={20} />
              <strong>{u.name}</strong> <span class="muted small">{u.userId}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
