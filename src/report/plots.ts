/** Plots for reports: vega-lite specs rendered to standalone SVG strings (no browser needed). */
import * as vega from 'vega';
import * as vl from 'vega-lite';

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export interface RunPoint { run: string; method: string; accuracy: number; kib: number; bits: string }

export function accuracyVsSize(points: RunPoint[]): vl.TopLevelSpec {
  return {
    title: 'Test accuracy against model size', width: 420, height: 260, data: { values: points },
    mark: { type: 'point', filled: true, size: 120 },
    encoding: {
      x: { field: 'kib', type: 'quantitative', title: 'weights (KiB, log scale)', scale: { type: 'log' } },
      y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } },
      color: { field: 'method', type: 'nominal' },
      tooltip: [{ field: 'run' }, { field: 'bits' }, { field: 'accuracy' }, { field: 'kib' }],
    },
  } as vl.TopLevelSpec;
}

/** Mean test accuracy against weight bits, one line per series (a method at one setting). */
export function accuracyVsBits(points: Array<{ series: string; wbits: number; accuracy: number }>): vl.TopLevelSpec {
  return {
    title: 'Test accuracy against weight bits', width: 420, height: 260, data: { values: points },
    mark: { type: 'line', point: { filled: true, size: 80 } },
    encoding: {
      x: { field: 'wbits', type: 'quantitative', title: 'weight bits (log scale)', scale: { type: 'log', base: 2 }, axis: { values: [1, 2, 4, 8, 16, 32] } },
      y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
      tooltip: [{ field: 'series' }, { field: 'wbits' }, { field: 'accuracy' }],
    },
  } as vl.TopLevelSpec;
}

export function trainingCurves(rows: Array<{ run: string; epoch: number; valAccuracy: number }>): vl.TopLevelSpec {
  return {
    title: 'Validation accuracy per epoch', width: 420, height: 240, data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'valAccuracy', type: 'quantitative', title: 'validation accuracy (%)', scale: { zero: false } },
      color: { field: 'run', type: 'nominal' },
    },
  } as vl.TopLevelSpec;
}

/** One histogram per model in the order given (float teacher first), four to a row, on one shared value axis. */
export function weightHistograms(rows: Array<{ model: string; value: number }>, layer = 'conv2'): vl.TopLevelSpec {
  return {
    title: `${layer} kernel values: float teacher and quantized`, width: 180, height: 140, data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'value', type: 'quantitative', bin: { maxbins: 60 }, title: 'weight value' },
      y: { aggregate: 'count', type: 'quantitative', title: 'count', scale: { type: 'symlog' } },
      facet: { field: 'model', type: 'nominal', title: null, columns: 4, sort: [...new Set(rows.map((r) => r.model))] },
    },
    resolve: { scale: { y: 'independent' } },
  } as vl.TopLevelSpec;
}

export function layerBits(rows: Array<{ run: string; layer: string; bits: number }>): vl.TopLevelSpec {
  return {
    title: 'Weight bits per layer', width: 420, height: 200, data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'layer', type: 'nominal', sort: null },
      xOffset: { field: 'run' },
      y: { field: 'bits', type: 'quantitative', scale: { domain: [0, 32] }, axis: { values: [1, 2, 4, 8, 16, 32] } },
      color: { field: 'run', type: 'nominal' },
    },
  } as vl.TopLevelSpec;
}
