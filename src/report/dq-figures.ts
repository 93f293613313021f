/**
 * DQ figures: reconstruction grids as PNG (pngjs), code usage per group and the channel
 * correlation heat map as vega-lite SVG. Node-only (pngjs).
 */
import { PNG } from 'pngjs';
import type * as vl from 'vega-lite';

/**
 * A grid of image sets stacked per row block (e.g. originals over reconstructions): each set is
 * N images [N, H, W] in [0, 1], `perRow` per row.
 */
export function imageGridPng(sets: Float32Array[], count: number, h: number, w: number, perRow = 8): Buffer {
  const rows = Math.ceil(count / perRow);
  const gap = 2;
  const block = sets.length * (h + gap);
  const width = perRow * (w + gap) + gap;
  const height = rows * block + gap;
  const png = new PNG({ width, height });
  png.data.fill(255);
  sets.forEach((src, s) => {
    for (let i = 0; i < count; i++) {
      const [r, c] = [Math.floor(i / perRow), i % perRow];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const v = Math.round(Math.min(1, Math.max(0, src[i * h * w + y * w + x])) * 255);
        const p = ((r * block + s * (h + gap) + gap + y) * width + c * (w + gap) + gap + x) * 4;
        png.data[p] = png.data[p + 1] = png.data[p + 2] = v;
        png.data[p + 3] = 255;
      }
    }
  });
  return PNG.sync.write(png);
}

/** A PNG shown in the report as an SVG <image> (the report embeds SVG figures). */
export function pngAsSvg(png: Buffer): string {
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * w}" height="${3 * h}" viewBox="0 0 ${w} ${h}"><image width="${w}" height="${h}" style="image-rendering:pixelated" href="data:image/png;base64,${png.toString('base64')}"/></svg>`;
}

export function codeUsageSpec(rows: Array<{ level: string; group: number; code: number; count: number }>): vl.TopLevelSpec {
  return {
    title: 'Code usage per group (test set)', data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'code', type: 'ordinal', title: 'code', axis: { labels: false, ticks: false } },
      y: { field: 'count', type: 'quantitative', title: 'positions' },
      row: { field: 'level', type: 'nominal', title: null },
      column: { field: 'group', type: 'ordinal', title: 'group' },
    },
    width: 120, height: 70,
    resolve: { scale: { y: 'independent' } },
  } as vl.TopLevelSpec;
}

export function correlationHeatmapSpec(matrix: number[][], title: string): vl.TopLevelSpec {
  const values = matrix.flatMap((row, i) => row.map((v, j) => ({ i, j, r: v })));
  return {
    title, data: { values }, width: 300, height: 300,
    mark: 'rect',
    encoding: {
      x: { field: 'j', type: 'ordinal', title: 'channel', axis: { labels: false, ticks: false } },
      y: { field: 'i', type: 'ordinal', title: 'channel', axis: { labels: false, ticks: false } },
      color: { field: 'r', type: 'quantitative', title: 'Pearson r', scale: { domain: [-1, 1], scheme: 'redblue', reverse: true } },
    },
  } as vl.TopLevelSpec;
}

/** Bits/dim per row (decoder and full bound), mean ± std over seeds, in table order. */
export function bitsPerDimSpec(rows: Array<{ run: string; measure: string; mean: number; std: number }>): vl.TopLevelSpec {
  const values = rows.map((r) => ({ ...r, lo: r.mean - r.std, hi: r.mean + r.std }));
  const x = { field: 'run', type: 'nominal', sort: null, title: null };
  return {
    title: 'Test bits/dim (mean ± std over seeds)', width: 420, height: 240, data: { values },
    layer: [
      { mark: { type: 'point', filled: true, size: 90 }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'bits/dim', scale: { zero: false } }, color: { field: 'measure', type: 'nominal' } } },
      { mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'measure', type: 'nominal' } } },
    ],
  } as vl.TopLevelSpec;
}
