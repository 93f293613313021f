/** One self-contained HTML report (inline SVG plots, no scripts or external files). */
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

export function reportHtml(title: string, intro: string, rows: ReportRow[], plots: Array<{ caption: string; svg: string }>, footer: string): string {
  const table = `<table><thead><tr><th>run</th><th>method</th><th>bits (W/A)</th><th>test accuracy</th><th>weights</th><th>compression</th><th>time</th></tr></thead><tbody>${
    rows.map((r) => `<tr><td>${esc(r.run)}</td><td>${esc(r.method)}</td><td>${esc(r.bits)}</td><td>${(r.accuracy * 100).toFixed(2)} %</td>` +
      `<td>${r.kib.toFixed(1)} KiB</td><td>${r.compression.toFixed(1)}×</td><td>${r.seconds.toFixed(0)} s</td></tr>`).join('')}</tbody></table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child,td:nth-child(2){text-align:left}
figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}footer{color:#777;font-size:85%;margin-top:2em}</style></head>
<body><h1>${esc(title)}</h1><p>${esc(intro)}</p>${table}
${plots.map((p) => `<figure>${p.svg}<figcaption>${esc(p.caption)}</figcaption></figure>`).join('\n')}
<footer>${esc(footer)}</footer></body></html>
`;
}
