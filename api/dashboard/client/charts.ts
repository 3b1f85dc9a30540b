// The dashboard's history charts as inline SVG strings (no chart library, nothing fetched). Each
// chart carries its scale on the <svg> (data-y-max and the plot box), so what is drawn can be read
// back: a point's value is (plot bottom − y) / plot height × y-max, its bucket from its x.

export interface ChartSeries {
  key: string;
  label: string;
  /** CSS class that colours it (see page.ts) */
  cls: string;
  values: (number | null)[];
}

export interface ChartSpec {
  id: string;
  kind: 'line' | 'bars';
  /** bucket starts (ISO), oldest first */
  starts: string[];
  bucketSeconds: number;
  series: ChartSeries[];
  /** the y axis reaches at least this (a flat zero line still has a scale) */
  minMax?: number;
  /** a dashed horizontal reference line (e.g. the slots there are) */
  reference?: { value: number; label: string };
  unit?: string;
}

export const chartBox = { width: 560, height: 150, left: 40, right: 10, top: 10, bottom: 22 } as const;
const plotW = chartBox.width - chartBox.left - chartBox.right;
const plotH = chartBox.height - chartBox.top - chartBox.bottom;

const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const r2 = (n: number) => Math.round(n * 100) / 100;

/** The smallest 1, 2 or 5 × 10^k at or above v. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v - 1e-9) return m * p;
  return 10 * p;
}

const hhmm = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function fmt(v: number, unit = ''): string {
  const s = Number.isInteger(v) ? String(v) : v < 10 ? v.toFixed(1) : String(Math.round(v));
  return unit ? `${s} ${unit}` : s;
}

export function chartSvg(spec: ChartSpec): string {
  const n = spec.starts.length;
  const step = n > 0 ? plotW / n : plotW;
  const x = (i: number) => r2(chartBox.left + (i + 0.5) * step);
  const stacked = spec.kind === 'bars'
    ? spec.starts.map((_, i) => spec.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0))
    : spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const yMax = niceCeil(Math.max(spec.minMax ?? 1, spec.reference?.value ?? 0, ...stacked));
  const y = (v: number) => r2(chartBox.top + plotH - (v / yMax) * plotH);
  const bottom = chartBox.top + plotH;

  const parts: string[] = [];
  // axes: 0 and the top of the scale, times at both ends and the middle
  parts.push(`<line class="axis" x1="${chartBox.left}" y1="${bottom}" x2="${chartBox.left + plotW}" y2="${bottom}"/>`);
  parts.push(`<line class="grid" x1="${chartBox.left}" y1="${chartBox.top}" x2="${chartBox.left + plotW}" y2="${chartBox.top}"/>`);
  parts.push(`<text class="tick" x="${chartBox.left - 4}" y="${bottom}" text-anchor="end" dominant-baseline="middle">0</text>`);
  parts.push(`<text class="tick" x="${chartBox.left - 4}" y="${chartBox.top}" text-anchor="end" dominant-baseline="middle">${esc(fmt(yMax))}</text>`);
  if (n > 0) {
    for (const [i, anchor] of [[0, 'start'], [Math.floor((n - 1) / 2), 'middle'], [n - 1, 'end']] as const) {
      parts.push(`<text class="tick" x="${x(i)}" y="${chartBox.height - 6}" text-anchor="${anchor}">${esc(hhmm(spec.starts[i]!))}</text>`);
    }
  }
  if (spec.reference) {
    parts.push(`<line class="reference" data-reference="${spec.reference.value}" x1="${chartBox.left}" y1="${y(spec.reference.value)}" x2="${chartBox.left + plotW}" y2="${y(spec.reference.value)}"><title>${esc(spec.reference.label)}</title></line>`);
  }

  if (spec.kind === 'line') {
    for (const s of spec.series) {
      // one polyline per run of buckets that have a value (no start in a minute: no wait to draw)
      let run: string[] = [];
      const flush = () => {
        if (run.length > 0) parts.push(`<polyline class="line ${esc(s.cls)}" data-series="${esc(s.key)}" points="${run.join(' ')}"/>`);
        run = [];
      };
      s.values.forEach((v, i) => { if (v === null) flush(); else run.push(`${x(i)},${y(v)}`); });
      flush();
      // a lone point has no line to show it: a dot does
      s.values.forEach((v, i) => {
        const alone = v !== null && (s.values[i - 1] ?? null) === null && (s.values[i + 1] ?? null) === null;
        if (alone) parts.push(`<circle class="dot ${esc(s.cls)}" data-series="${esc(s.key)}" cx="${x(i)}" cy="${y(v)}" r="2"/>`);
      });
    }
  } else {
    const w = r2(Math.max(1, step - (step > 4 ? 1 : 0)));
    spec.starts.forEach((start, i) => {
      let base = 0;
      for (const s of spec.series) {
        const v = s.values[i] ?? 0;
        if (v <= 0) continue;
        const top = y(base + v);
        parts.push(`<rect class="bar ${esc(s.cls)}" data-series="${esc(s.key)}" data-bucket="${i}" x="${r2(chartBox.left + i * step)}" y="${top}" width="${w}" height="${r2(y(base) - top)}"><title>${esc(hhmm(start))} · ${esc(s.label)}: ${esc(fmt(v, spec.unit))}</title></rect>`);
        base += v;
      }
    });
  }

  const legend = spec.series.map((s) => `<span class="key ${esc(s.cls)}">${esc(s.label)}</span>`).join('');
  return `<div class="legend">${legend}</div><svg class="chart" data-testid="chart-${esc(spec.id)}" data-kind="${spec.kind}" viewBox="0 0 ${chartBox.width} ${chartBox.height}" role="img" data-y-max="${yMax}" data-buckets="${n}" data-bucket-seconds="${spec.bucketSeconds}"
    data-first="${esc(spec.starts[0] ?? '')}" data-plot="${chartBox.left} ${chartBox.top} ${plotW} ${plotH}">${parts.join('')}</svg>`;
}
