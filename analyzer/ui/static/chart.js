// Charts on uPlot (served from node_modules, works offline). Two kinds: a client's series against
// its baseline band (mean ± k·spread) with the anomaly's window and onset marked, and the load
// multiplier over time per service (stepped).
import uPlot from './vendor/uPlot.esm.js';

const COLORS = ['#2f6fde', '#e4572e', '#17a589', '#a05cd5', '#d4a017', '#5d6d7e'];

function sized(container, opts) {
  const width = Math.max(320, container.clientWidth || 720);
  return { width, height: opts.height ?? 280 };
}

/** Resizes with its container; returns a destroy function. */
function mount(container, opts, data) {
  const plot = new uPlot({ ...opts, ...sized(container, opts) }, data, container);
  const ro = new ResizeObserver(() => plot.setSize(sized(container, opts)));
  ro.observe(container);
  return () => {
    ro.disconnect();
    plot.destroy();
  };
}

/** A vertical shaded region and line drawn under the series. */
function markers(marks) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx } = u;
          const top = u.bbox.top;
          const height = u.bbox.height;
          ctx.save();
          for (const m of marks) {
            if (m.from !== undefined && m.to !== undefined) {
              const x0 = u.valToPos(m.from / 1000, 'x', true);
              const x1 = u.valToPos(m.to / 1000, 'x', true);
              ctx.fillStyle = 'rgba(228, 87, 46, 0.10)';
              ctx.fillRect(Math.min(x0, x1), top, Math.max(2, Math.abs(x1 - x0)), height);
            }
            if (m.at !== undefined) {
              const x = u.valToPos(m.at / 1000, 'x', true);
              ctx.strokeStyle = 'rgba(228, 87, 46, 0.9)';
              ctx.setLineDash([4, 4]);
              ctx.lineWidth = 1.5 * devicePixelRatio;
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
            }
          }
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * series: { feature, unit, ts[], value[], mean[], spread[], k }; marks: { window: {start, end}, at }
 * Returns a destroy function. Sets data-points on the container (tests and people can see it drew).
 */
export function seriesChart(container, series, marks = {}) {
  const x = series.ts.map((t) => t / 1000);
  const upper = series.mean.map((m, i) => (m === null || series.spread[i] === null ? null : m + series.k * series.spread[i]));
  const lower = series.mean.map((m, i) => (m === null || series.spread[i] === null ? null : Math.max(0, m - series.k * series.spread[i])));
  const data = [x, series.value, upper, lower, series.mean];
  const limited = Array.isArray(series.limited) && series.limited.some((v) => v > 0);
  if (limited) data.push(series.limited);
  container.dataset.points = String(x.length);
  const list = [];
  if (marks.window) list.push({ from: marks.window.start, to: marks.window.end });
  if (marks.at !== undefined) list.push({ at: marks.at });
  const opts = {
    class: 'rw-chart',
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [{}, { label: series.unit, size: 60 }],
    series: [
      {},
      { label: series.feature, stroke: '#2f6fde', width: 2, points: { show: false } },
      { label: `baseline + ${series.k}σ`, stroke: 'rgba(23,165,137,0.5)', width: 1, dash: [3, 3], points: { show: false } },
      { label: `baseline − ${series.k}σ`, stroke: 'rgba(23,165,137,0.5)', width: 1, dash: [3, 3], points: { show: false } },
      { label: 'baseline', stroke: '#17a589', width: 1.5, points: { show: false } },
      ...(limited ? [{ label: 'limited/blocked by sidecars', stroke: '#e4572e', fill: 'rgba(228,87,46,0.25)', width: 1.5, points: { show: false } }] : []),
    ],
    bands: [{ series: [2, 3], fill: 'rgba(23,165,137,0.14)' }],
    plugins: [markers(list)],
  };
  return mount(container, opts, data);
}

/** history: [{ts, service, multiplier}] → one stepped line per service, from its first point to now. */
export function loadChart(container, history, now = Date.now()) {
  const services = [...new Set(history.map((p) => p.service))].sort();
  const times = [...new Set([...history.map((p) => p.ts), now])].sort((a, b) => a - b);
  const data = [times.map((t) => t / 1000)];
  for (const service of services) {
    const points = history.filter((p) => p.service === service).sort((a, b) => a.ts - b.ts);
    let i = 0;
    let current = null;
    data.push(
      times.map((t) => {
        while (i < points.length && points[i].ts <= t) current = points[i++].multiplier;
        return current;
      }),
    );
  }
  container.dataset.points = String(times.length);
  const opts = {
    class: 'rw-chart',
    height: 240,
    scales: { x: { time: true }, y: { range: [0, 1.05] } },
    axes: [{}, { label: 'multiplier', size: 60 }],
    series: [{}, ...services.map((s, k) => ({ label: s, stroke: COLORS[k % COLORS.length], width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }))],
  };
  return mount(container, opts, data);
}
