// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text exposition
// format (version 0.0.4). Gauges may be computed at scrape time by a collector (possibly async,
// e.g. a database count). Matrix-agnostic.

export type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

interface Metric {
  readonly name: string;
  render(): Promise<string[]>;
}

abstract class Labelled<V> {
  protected readonly series = new Map<string, { values: string[]; v: V }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  protected entry(labels: Labels, make: () => V): V {
    const values = this.labelNames.map((n) => labels[n] ?? "");
    const key = values.join("\u0000");
    let e = this.series.get(key);
    if (!e) this.series.set(key, (e = { values, v: make() }));
    return e.v;
  }
}

export class Counter extends Labelled<{ n: number }> implements Metric {
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).n += by;
  }

  /** The current value (tests, and `hs` itself). */
  get(labels: Labels = {}): number {
    return this.entry(labels, () => ({ n: 0 })).n;
  }

  async render(): Promise<string[]> {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} counter`];
    for (const { values, v } of this.series.values()) out.push(`${this.name}${labelText(this.labelNames, values)} ${formatValue(v.n)}`);
    return out;
  }
}

export type GaugeCollector = () => Array<[Labels, number]> | Promise<Array<[Labels, number]>>;

export class Gauge extends Labelled<{ n: number }> implements Metric {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly collector?: GaugeCollector,
    /** "counter" for monotonic values read from elsewhere at scrape time. */
    private readonly type: "gauge" | "counter" = "gauge",
  ) {
    super(name, help, labelNames);
  }

  set(labels: Labels, value: number): void {
    this.entry(labels, () => ({ n: 0 })).n = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).n += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => ({ n: 0 })).n -= by;
  }

  async render(): Promise<string[]> {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    if (this.collector) {
      // Collected series replace the stored ones (destinations that drained disappear).
      this.series.clear();
      for (const [labels, value] of await this.collector()) this.set(labels, value);
    }
    for (const { values, v } of this.series.values()) out.push(`${this.name}${labelText(this.labelNames, values)} ${formatValue(v.n)}`);
    return out;
  }
}

/** Latency buckets in seconds (Prometheus' defaults plus finer low ones for database queries). */
export const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Histogram extends Labelled<{ counts: number[]; sum: number; count: number }> implements Metric {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, labelNames);
  }

  observe(labels: Labels, value: number): void {
    const e = this.entry(labels, () => ({ counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) e.counts[i]!++;
    e.sum += value;
    e.count++;
  }

  /** The series `keep` accepts added up: cumulative counts per bucket (`le` each of `buckets`) and the number of observations. */
  totals(keep: (labels: Labels) => boolean = () => true): { counts: number[]; count: number } {
    const counts = new Array<number>(this.buckets.length).fill(0);
    let count = 0;
    for (const { values, v } of this.series.values()) {
      if (!keep(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])))) continue;
      for (let i = 0; i < counts.length; i++) counts[i]! += v.counts[i]!;
      count += v.count;
    }
    return { counts, count };
  }

  /** Number of observations (tests). */
  count(labels: Labels = {}): number {
    return this.entry(labels, () => ({ counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 })).count;
  }

  async render(): Promise<string[]> {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`];
    for (const { values, v } of this.series.values()) {
      for (let i = 0; i < this.buckets.length; i++) {
        out.push(`${this.name}_bucket${labelText(this.labelNames, values, `le="${formatValue(this.buckets[i]!)}"`)} ${v.counts[i]}`);
      }
      out.push(`${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${v.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatValue(v.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, values)} ${v.count}`);
    }
    return out;
  }
}

/** A set of metrics rendered together. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collector?: GaugeCollector): Gauge {
    return this.add(new Gauge(name, help, labelNames, collector));
  }

  /** A counter whose values are read at scrape time (kept elsewhere, e.g. cache statistics). */
  counterFrom(name: string, help: string, labelNames: readonly string[], collector: GaugeCollector): Gauge {
    return this.add(new Gauge(name, help, labelNames, collector, "counter"));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** The text exposition format; a collector that fails is skipped (and reported as a comment). */
  async render(): Promise<string> {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      try {
        lines.push(...(await m.render()));
      } catch (e) {
        lines.push(`# ${m.name}: collection failed: ${escapeHelp((e as Error).message)}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
