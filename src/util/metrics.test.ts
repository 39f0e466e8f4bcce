import { expect, test } from "bun:test";
import { MetricsRegistry } from "./metrics.ts";

test("counters, gauges with collectors and histograms render in the text format", async () => {
  const r = new MetricsRegistry();
  const c = r.counter("t_requests_total", "Requests.\nSecond line", ["route", "status"]);
  c.inc({ route: '/a/"b"', status: "200" });
  c.inc({ route: '/a/"b"', status: "200" }, 2);
  r.gauge("t_depth", "Depth.", ["dest"], async () => [[{ dest: "x.org" }, 4]]);
  const h = r.histogram("t_seconds", "Latency.", [], [0.1, 1]);
  h.observe({}, 0.05);
  h.observe({}, 0.5);
  h.observe({}, 5);
  const text = await r.render();
  expect(text).toContain('# HELP t_requests_total Requests.\\nSecond line');
  expect(text).toContain('t_requests_total{route="/a/\\"b\\"",status="200"} 3');
  expect(text).toContain('t_depth{dest="x.org"} 4');
  expect(text).toContain('t_seconds_bucket{le="0.1"} 1\nt_seconds_bucket{le="1"} 2\nt_seconds_bucket{le="+Inf"} 3\nt_seconds_sum 5.55\nt_seconds_count 3');
  expect(() => r.counter("t_depth", "again")).toThrow();
  // A failing collector does not break the rest.
  r.gauge("t_broken", "Broken.", [], () => {
    throw new Error("db down");
  });
  const again = await r.render();
  expect(again).toContain("# t_broken: collection failed: db down");
  expect(again).toContain("t_seconds_count 3");
});
