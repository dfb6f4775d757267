/**
 * The chart of a bench run: requests/s and p99 latency of each round, service beside floor, with the
 * medians the run reports. Plain SVG, no dependency, so that bench/README.md can show it.
 *
 * npm run bench writes one next to each results file; to redraw one:
 *   node --import tsx bench/chart.ts bench/results/<file>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Round {
  target: 'service' | 'floor';
  round: number;
  requestsPerSecond: number;
  p99: number;
}

interface Results {
  date: string;
  machine: { cpus: number; node: string; postgres: string };
  settings: { users: number; rounds: number; durationSeconds: number; connections: number };
  rounds: Round[];
  summary: Record<'service' | 'floor', { requestsPerSecond: number; p99: number }>;
  throughputRatio: number;
  p99Ratio: number;
}

const COLOURS = { service: '#1f6feb', floor: '#8c959f' } as const;
const WIDTH = 760;
const PANEL = { width: 320, height: 220, top: 84 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A rounded-up axis maximum: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value) ?? value;
}

function panel(results: Results, x0: number, title: string, value: (r: Round) => number, median: (t: 'service' | 'floor') => number, unit: string): string {
  const { width, height, top } = PANEL;
  const rounds = results.settings.rounds;
  const max = niceMax(Math.max(...results.rounds.map(value)) * 1.1);
  const y = (v: number) => top + height - (v / max) * height;
  const group = width / rounds;
  const bar = Math.min(40, (group - 20) / 2);
  const parts = [`<text x="${x0}" y="${top - 16}" class="title">${escape(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    parts.push(`<line x1="${x0}" x2="${x0 + width}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y(v) + 4}" class="axis" text-anchor="end">${Math.round(v).toLocaleString('en')}</text>`);
  }
  for (let round = 1; round <= rounds; round++) {
    const gx = x0 + (round - 1) * group + group / 2;
    (['service', 'floor'] as const).forEach((target, side) => {
      const r = results.rounds.find((candidate) => candidate.round === round && candidate.target === target);
      if (!r) return;
      const bx = gx + (side === 0 ? -bar - 2 : 2);
      parts.push(
        `<rect x="${bx}" y="${y(value(r))}" width="${bar}" height="${top + height - y(value(r))}" fill="${COLOURS[target]}">` +
          `<title>${target}, round ${round}: ${value(r).toLocaleString('en')} ${unit}</title></rect>`,
      );
    });
    parts.push(`<text x="${gx}" y="${top + height + 16}" class="axis" text-anchor="middle">round ${round}</text>`);
  }
  for (const target of ['service', 'floor'] as const) {
    const m = median(target);
    parts.push(`<line x1="${x0}" x2="${x0 + width}" y1="${y(m)}" y2="${y(m)}" stroke="${COLOURS[target]}" stroke-dasharray="5 4"/>`);
    parts.push(`<text x="${x0 + width - 4}" y="${y(m) - 4}" class="median" text-anchor="end" fill="${COLOURS[target]}">median ${m.toLocaleString('en')}</text>`);
  }
  return parts.join('\n');
}

/** The chart of one run, as SVG text. */
export function renderChart(results: Results): string {
  const { settings, machine, summary } = results;
  const subtitle =
    `${settings.users.toLocaleString('en')} users, ${settings.connections} connections, ${settings.rounds} alternating rounds of ` +
    `${settings.durationSeconds} s; ${machine.cpus} vCPUs, Node ${machine.node}, PostgreSQL ${machine.postgres.split(' ')[0]}; ` +
    `${results.date.slice(0, 16).replace('T', ' ')} UTC`;
  const verdict =
    `service / floor: ${(results.throughputRatio * 100).toFixed(0)}% of the requests/s, ` +
    `${results.p99Ratio.toFixed(2)}× the p99 (medians, dashed)`;
  const height = PANEL.top + PANEL.height + 60;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">
<style>.title{font-size:14px;font-weight:600}.axis{font-size:11px;fill:#57606a}.grid{stroke:#d0d7de;stroke-width:1}.median{font-size:11px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="20" y="22" class="title">GET /api/v1/users/{id}/connections: the service against a bare node:http + pg floor</text>
<text x="20" y="40" class="axis">${escape(subtitle)}</text>
${panel(results, 60, 'requests per second (higher is better)', (r) => Math.round(r.requestsPerSecond), (t) => summary[t].requestsPerSecond, 'req/s')}
${panel(results, 430, 'p99 latency, ms (lower is better)', (r) => r.p99, (t) => summary[t].p99, 'ms')}
<rect x="60" y="${height - 26}" width="12" height="12" fill="${COLOURS.service}"/><text x="78" y="${height - 16}" class="axis">service</text>
<rect x="140" y="${height - 26}" width="12" height="12" fill="${COLOURS.floor}"/><text x="158" y="${height - 16}" class="axis">floor</text>
<text x="230" y="${height - 16}" class="axis">${escape(verdict)}</text>
</svg>
`;
}

/** Writes the chart of a results file beside it (`.svg` for `.json`); returns its path. */
export function writeChart(resultsFile: string): string {
  const svgFile = resultsFile.replace(/\.json$/, '.svg');
  writeFileSync(svgFile, renderChart(JSON.parse(readFileSync(resultsFile, 'utf8')) as Results));
  return svgFile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const file of process.argv.slice(2)) process.stdout.write(`${writeChart(file)}\n`);
}
