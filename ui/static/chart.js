// ProxyOS dashboard: small line charts drawn as SVG, for the route
// page's traffic. No library and no inline style (the CSP forbids it):
// lines are <polyline> elements whose colours come from app.css classes.

const svgNS = 'http://www.w3.org/2000/svg';

// The drawing area, in SVG units; the chart scales to its box's width.
const W = 600;
const H = 160;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// axis label is a round number.
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function formatNumber(v) {
  if (v >= 100) return String(Math.round(v));
  if (v >= 1) return String(Math.round(v * 10) / 10);
  return String(Math.round(v * 100) / 100);
}

function clock(t) {
  const d = new Date(t * 1000);
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}

// lineChart draws lines over shared times (unix seconds): each line is
// { label, cls, values } with one value per time. It returns a <figure
// content> element: the SVG and a legend.
export function lineChart(times, lines, unit) {
  const n = times.length;
  let max = 0;
  for (const l of lines) for (const v of l.values) if (v > max) max = v;
  const top = niceMax(max);
  const x = (i) => PAD.left + (n > 1 ? (i * (W - PAD.left - PAD.right)) / (n - 1) : 0);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const title = lines.map((l) => l.label).join(', ') + ' (' + unit + ')';
  const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart-svg', role: 'img', 'aria-label': title });
  // Axes: the baseline, the top line and their values; the first and
  // last times.
  svg.append(
    svgEl('line', { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: 'chart-axis' }),
    svgEl('line', { x1: PAD.left, x2: W - PAD.right, y1: y(top), y2: y(top), class: 'chart-grid' }),
    svgEl('text', { x: PAD.left - 4, y: y(top) + 4, class: 'chart-label', 'text-anchor': 'end' }, formatNumber(top)),
    svgEl('text', { x: PAD.left - 4, y: y(0), class: 'chart-label', 'text-anchor': 'end' }, '0'));
  if (n > 0) {
    svg.append(
      svgEl('text', { x: PAD.left, y: H - 4, class: 'chart-label' }, clock(times[0])),
      svgEl('text', { x: W - PAD.right, y: H - 4, class: 'chart-label', 'text-anchor': 'end' }, clock(times[n - 1])));
  }
  for (const l of lines) {
    const pts = l.values.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
    const line = svgEl('polyline', { points: pts, class: 'chart-line ' + l.cls, 'data-series': l.label });
    line.append(svgEl('title', null, l.label));
    svg.append(line);
  }
  const legend = document.createElement('ul');
  legend.className = 'chart-legend';
  for (const l of lines) {
    const li = document.createElement('li');
    const swatch = svgEl('svg', { viewBox: '0 0 12 12', class: 'chart-swatch', 'aria-hidden': 'true' });
    swatch.append(svgEl('rect', { width: 12, height: 12, class: l.cls }));
    const last = l.values.length ? l.values[l.values.length - 1] : 0;
    li.append(swatch, ' ' + l.label + ' ');
    const peak = Math.max(0, ...l.values);
    const note = document.createElement('span');
    note.className = 'muted';
    note.textContent = '(peak ' + formatNumber(peak) + ', now ' + formatNumber(last) + ')';
    li.append(note);
    legend.append(li);
  }
  const wrap = document.createElement('div');
  wrap.className = 'chart';
  wrap.append(svg, legend);
  return wrap;
}
