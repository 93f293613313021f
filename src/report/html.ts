/** One self-contained HTML report (inline SVG plots, no scripts or external files). */
import type { TableCells } from './recipe-table.js';

export interface ReportRow {
  run: string;
  method: string;
  bits: string;
  accuracy: number;
  kib: number;
  compression: number;
  seconds: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The classifier rows of the demo as table cells. */
function classifierCells(rows: ReportRow[]): TableCells {
  return {
    head: ['run', 'method', 'bits (W/A)', 'test accuracy', 'weights', 'compression', 'time'],
    rows: rows.map((r) => [r.run, r.method, r.bits, `${(r.accuracy * 100).toFixed(2)} %`, `${r.kib.toFixed(1)} KiB`, `${r.compression.toFixed(1)}×`, `${r.seconds.toFixed(0)} s`]),
  };
}

const htmlTable = (cells: TableCells) => `<table><thead><tr>${cells.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${
  cells.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;

/** The report: a table (demo rows, or a recipe's cells as in its table.md), further captioned tables, plots, a footer. */
export function reportHtml(title: string, intro: string, rows: ReportRow[] | TableCells, plots: Array<{ caption: string; svg: string }>, footer: string,
  tables: Array<TableCells & { caption: string }> = []): string {
  const table = htmlTable(Array.isArray(rows) ? classifierCells(rows) : rows) +
    tables.map((t) => `<p>${esc(t.caption)}</p>${htmlTable(t)}`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child,td:nth-child(2){text-align:left}
figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}footer{color:#777;font-size:85%;margin-top:2em}</style></head>
<body><h1>${esc(title)}</h1><p>${esc(intro)}</p>${table}
${plots.map((p) => `<figure>${p.svg}<figcaption>${esc(p.caption)}</figcaption></figure>`).join('\n')}
<footer>${esc(footer)}</footer></body></html>
`;
}
