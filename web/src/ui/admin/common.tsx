// What the admin console's pages share: the admin API prefixes, loading an endpoint (with "not
// available" for parts of the API a server lacks), the one table component, a search field, stats.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { MatrixApiError } from "../../api.ts";
import { errorText, Icon, Spinner, val } from "../common.tsx";

export const A1 = "/_synapse/admin/v1";
export const A2 = "/_synapse/admin/v2";
export const enc = encodeURIComponent;
export type Load<T> = { data?: T; error?: string; unsupported?: boolean; loading: boolean };

export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [state, setState] = useState<Load<T>>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (e: unknown) => live && setState({ loading: false, error: errorText(e), unsupported: e instanceof MatrixApiError && e.unsupported }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [state, () => setN((x) => x + 1)];
}

export function Loaded<T>({ state, children }: { state: Load<T>; children: (d: T) => ComponentChildren }) {
  if (state.unsupported) return <p class="unavailable">Not available: this server does not offer this admin API yet.</p>;
  if (state.error) return <p class="form-error">{state.error}</p>;
  if (state.data === undefined) return <Spinner />;
  return <>{children(state.data)}</>;
}

export const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
export const when = (ts: unknown) => (typeof ts === "number" && ts > 0 ? new Date(ts).toLocaleString() : "—");

/** The toolbar's search box of a list. */
export function SearchField({ label, value, onInput }: { label: string; value: string; onInput: (v: string) => void }) {
  return (
    <label class="search">
      <Icon name="search" size={16} />
      <input type="search" aria-label={label} placeholder={label} value={value} onInput={(e) => onInput(val(e))} />
    </label>
  );
}

/** 3 d 4 h, 5 h 6 min, 7 min, 8 s. */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${seconds} s`;
}

export function Stat({ label, value }: { label: string; value: ComponentChildren }) {
  return (
    <div class="stat">
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </div>
  );
}

/** A number from an admin endpoint, or "n/a" when the endpoint is missing. */
export async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof MatrixApiError && (e.unsupported || e.status === 404)) return undefined;
    throw e;
  }
}

export function serverName(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

/** A column of a DataTable: its header and how a row shows in it ("actions" columns have a hidden header). */
export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  class?: string;
  actions?: boolean;
}

/** Every list of the admin console: one table, one look, a caption for screen readers. */
export function DataTable<T>({ label, rows, columns, rowKey, rowClass, class: cls }: { label: string; rows: T[]; columns: Column<T>[]; rowKey: (row: T) => string; rowClass?: (row: T) => string; class?: string }) {
  return (
    <table class={`table ${cls ?? ""}`} aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.label}>{c.actions ? <span class="visually-hidden">{c.label}</span> : c.label}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)} class={rowClass?.(r) ?? ""}>
            {columns.map((c) => (
              <td key={c.label} class={c.actions ? "actions" : c.class}>
                {c.cell(r)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
