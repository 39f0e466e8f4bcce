// The overview's trends: the server's time series (GET /_hs/admin/v1/server/stats, sampled every few
// minutes) drawn as small inline SVG charts — no chart library. Per-interval counts (messages,
// registrations, requests) become bars per day (per hour over one day); levels (active users,
// sizes, memory, latency, federation) become lines. Each chart has a text summary for screen readers.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { arr, num, obj } from "../../api.ts";
import { formatBytes } from "../../format.ts";
import { useClient } from "../common.tsx";
import { Loaded, optional, useLoad } from "./common.tsx";

type Sample = Record<string, number>;
interface Series {
  label: string;
  points: Array<[number, number]>;
  /** Drawn dashed (a limit, not a measurement). */
  dashed?: boolean;
}

const W = 320;
const H = 120;
const PAD = { l: 4, r: 4, t: 8, b: 16 };
const HOUR = 3_600_000;
const DAY = 86_400_000;

const count = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n * 10) / 10));
const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n * 10) / 10} ms`);

/** A round upper bound for the y axis (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n). */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

const dayLabel = (t: number, span: number) => {
  const d = new Date(t);
  return span <= DAY ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString(undefined, { day: "numeric", month: "short" });
};

function Frame({ title, summary, max, fmt, from, to, children, legend }: { title: string; summary: string; max: number; fmt: (n: number) => string; from: number; to: number; children: ComponentChildren; legend?: Series[] }) {
  const span = to - from;
  return (
    <figure class="chart">
      <figcaption>
        <strong>{title}</strong>
        {legend && legend.length > 1 && (
          <span class="chart-legend" aria-hidden="true">
            {legend.map((s, i) => (
              <span key={s.label} class={`lg s${i} ${s.dashed ? "dashed" : ""}`}>
                {s.label}
              </span>
            ))}
          </span>
        )}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${summary}`}>
        <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={PAD.t} y2={PAD.t} />
        <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={(PAD.t + H - PAD.b) / 2} y2={(PAD.t + H - PAD.b) / 2} />
        <line class="axis" x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} />
        {children}
        <text class="tick" x={PAD.l + 2} y={PAD.t + 9}>
          {fmt(max)}
        </text>
        <text class="tick" x={PAD.l} y={H - 3}>
          {dayLabel(from, span)}
        </text>
        <text class="tick" x={W - PAD.r} y={H - 3} text-anchor="end">
          {dayLabel(to, span)}
        </text>
      </svg>
    </figure>
  );
}

/** Lines over [from, to]. */
export function LineChart({ title, series, fmt, from, to, floor }: { title: string; series: Series[]; fmt: (n: number) => string; from: number; to: number; floor?: number }) {
  const max = niceMax(Math.max(floor ?? 0, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const x = (t: number) => PAD.l + ((t - from) / Math.max(1, to - from)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const summary = series.map((s) => `${s.label} ${s.points.length ? fmt(s.points[s.points.length - 1]![1]) : "no data"}`).join(", ");
  return (
    <Frame title={title} summary={`latest ${summary}`} max={max} fmt={fmt} from={from} to={to} legend={series}>
      {series.map((s, i) =>
        s.points.length === 1 ? (
          <circle key={s.label} class={`pt s${i}`} cx={x(s.points[0]![0])} cy={y(s.points[0]![1])} r={2.5} />
        ) : (
          <polyline key={s.label} class={`ln s${i} ${s.dashed ? "dashed" : ""}`} points={s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ")} />
        ),
      )}
    </Frame>
  );
}

/** Bars: one per bucket (start time, value). */
export function BarChart({ title, bars, fmt, from, to, bucket }: { title: string; bars: Array<[number, number]>; fmt: (n: number) => string; from: number; to: number; bucket: number }) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b[1])));
  const n = Math.max(1, Math.round((to - from) / bucket));
  const bw = (W - PAD.l - PAD.r) / n;
  const total = bars.reduce((a, b) => a + b[1], 0);
  return (
    <Frame title={title} summary={`${fmt(total)} in all, at most ${fmt(Math.max(0, ...bars.map((b) => b[1])))} per ${bucket === HOUR ? "hour" : "day"}`} max={max} fmt={fmt} from={from} to={to}>
      {bars.map(([t, v]) => {
        const i = Math.floor((t - from) / bucket);
        const h = (v / max) * (H - PAD.t - PAD.b);
        return <rect key={t} class="bar" x={PAD.l + i * bw + 1} y={H - PAD.b - h} width={Math.max(1, bw - 2)} height={h} />;
      })}
    </Frame>
  );
}

/** Sums a per-interval field into buckets (days, or hours) starting at `from`. */
function sums(samples: Sample[], field: string, from: number, bucket: number): Array<[number, number]> {
  const m = new Map<number, number>();
  for (const s of samples) {
    const b = from + Math.floor((s.ts! - from) / bucket) * bucket;
    m.set(b, (m.get(b) ?? 0) + (s[field] ?? 0));
  }
  return [...m.entries()];
}

const line = (samples: Sample[], field: string, label: string, scale = 1): Series => ({ label, points: samples.map((s) => [s.ts!, (s[field] ?? 0) * scale]) });

const RANGES = [
  [1, "Day"],
  [7, "Week"],
  [30, "Month"],
] as const;

export function Trends() {
  const client = useClient();
  const [days, setDays] = useState<number>(7);
  const [state] = useLoad(() => optional(client.api.get("/_hs/admin/v1/server/stats", { days })), [days]);
  return (
    <section class="card trends" aria-labelledby="trends-h">
      <div class="trends-head">
        <h2 id="trends-h">Trends</h2>
        <div class="seg" role="group" aria-label="Period">
          {RANGES.map(([d, label]) => (
            <button key={d} type="button" class={d === days ? "active" : ""} aria-pressed={d === days} onClick={() => setDays(d)}>
              {label}
            </button>
          ))}
        </div>
      </div>
      <Loaded state={state}>
        {(data) => {
          if (!data) return <p class="unavailable">Not available: this server does not keep a time series of its figures (hs's own admin API).</p>;
          const samples = arr(data.samples).map((s) => obj(s) as unknown as Sample);
          if (!samples.length) return <p class="muted">No samples yet: the server samples its figures every few minutes.</p>;
          const to = Date.now();
          const bucket = days <= 1 ? HOUR : DAY;
          const from = days <= 1 ? Math.floor((to - DAY) / HOUR) * HOUR + HOUR : new Date(new Date(to - (days - 1) * DAY).toDateString()).getTime();
          const inRange = samples.filter((s) => s.ts! >= from);
          const target = num(data.memory_target_bytes);
          const fed = inRange.map((s) => ({ ts: s.ts!, up: (s.federation_destinations ?? 0) - (s.federation_failing ?? 0), down: s.federation_failing ?? 0, queue: s.federation_queue ?? 0 }));
          const per = bucket === HOUR ? "hour" : "day";
          return (
            <div class="charts">
              <BarChart title={`Messages per ${per}`} bars={sums(inRange, "messages", from, bucket)} fmt={count} from={from} to={to} bucket={bucket} />
              <BarChart title={`Registrations per ${per}`} bars={sums(inRange, "registrations", from, bucket)} fmt={count} from={from} to={to} bucket={bucket} />
              <LineChart title="Active users" series={[line(inRange, "daily_active_users", "daily"), line(inRange, "monthly_active_users", "monthly")]} fmt={count} from={from} to={to} />
              <LineChart title="Users and rooms" series={[line(inRange, "users", "users"), line(inRange, "rooms", "rooms")]} fmt={count} from={from} to={to} />
              <LineChart title="Database and media" series={[line(inRange, "database_bytes", "database"), line(inRange, "media_bytes", "media")]} fmt={formatBytes} from={from} to={to} />
              <LineChart
                title="Memory"
                series={[line(inRange, "rss_bytes", "resident"), line(inRange, "heap_bytes", "JS heap"), ...(target ? [{ label: "target", dashed: true, points: [[from, target], [to, target]] as Array<[number, number]> }] : [])]}
                fmt={formatBytes}
                from={from}
                to={to}
              />
              <LineChart
                title="Requests per minute"
                series={[{ label: "requests", points: inRange.map((s) => [s.ts!, (s.requests ?? 0) / ((num(data.interval_seconds) ?? 300) / 60)] as [number, number]) }]}
                fmt={count}
                from={from}
                to={to}
              />
              <LineChart title="Latency (without /sync)" series={[line(inRange, "latency_p50_ms", "median"), line(inRange, "latency_p95_ms", "95th percentile")]} fmt={ms} from={from} to={to} />
              <LineChart
                title="Federation servers"
                series={[
                  { label: "up", points: fed.map((f) => [f.ts, f.up]) },
                  { label: "down", points: fed.map((f) => [f.ts, f.down]) },
                  { label: "queued", points: fed.map((f) => [f.ts, f.queue]) },
                ]}
                fmt={count}
                from={from}
                to={to}
              />
            </div>
          );
        }}
      </Loaded>
    </section>
  );
}

/** The risky settings the server reports (GET /_hs/admin/v1/server/warnings), as a banner above every page. */
export function RiskBanner() {
  const client = useClient();
  const [state] = useLoad(() => optional(client.api.get("/_hs/admin/v1/server/warnings")), []);
  const warnings = state.data ? arr(state.data.warnings).map(obj) : [];
  if (!warnings.length) return null;
  const danger = warnings.some((w) => w.severity === "danger");
  return (
    <section class={`risk-banner ${danger ? "danger" : ""}`} role="region" aria-label="Risky settings">
      <h2>
        {warnings.length === 1 ? "1 risky setting" : `${warnings.length} risky settings`} in this server's configuration
      </h2>
      <ul>
        {warnings.map((w) => (
          <li key={String(w.id)} class={w.severity === "danger" ? "danger" : "warning"}>
            <span class={`pill ${w.severity === "danger" ? "bad" : "warn"}`}>{w.severity === "danger" ? "danger" : "warning"}</span> <code>{String(w.setting)}</code> — {String(w.message)}
          </li>
        ))}
      </ul>
    </section>
  );
}
