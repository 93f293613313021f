// Compares two recipe results.json files run by run: node bench/compare-recipes.mjs BEFORE AFTER [before-label after-label]
import { readFileSync } from 'node:fs';
const [a, b, la = 'before', lb = 'after'] = process.argv.slice(2);
const runs = (f) => new Map(JSON.parse(readFileSync(f, 'utf8')).runs.map((r) => [r.id, r]));
const before = runs(a);
const after = runs(b);
const pct = (x) => (x == null ? '—' : (x * 100).toFixed(2));
const lines = [`| run | backend | test % ${la} | test % ${lb} | Δ | identical |`, '|---|---|---|---|---|---|'];
let same = 0;
let n = 0;
for (const [id, r] of after) {
  const p = before.get(id);
  if (!p) continue;
  n++;
  const eq = p.testAccuracy === r.testAccuracy && p.valAccuracy === r.valAccuracy;
  if (eq) same++;
  lines.push(`| ${id} | ${r.backend ?? ''} | ${pct(p.testAccuracy)} | ${pct(r.testAccuracy)} | ${((r.testAccuracy - p.testAccuracy) * 100).toFixed(2)} | ${eq ? 'yes' : 'no'} |`);
}
lines.push('', `${same} of ${n} runs have identical test and validation accuracy.`);
console.log(lines.join('\n'));
