/** The --data flags (the user's own files, docs/data.md) parsed into a DataFileSpec. Node-only. */
import type { Command } from 'commander';
import type { DataFileSpec } from '../data/arrays.js';
import { LowbitError } from '../errors.js';
import { parseChoice, parseFraction, parseInteger, shownValue } from './options.js';

export interface DataFlags {
  data?: string;
  imageSize?: string;
  channels?: string;
  resize?: string;
  valFraction?: string;
  splitSeed?: string;
  normalize?: boolean;
  augment?: string | boolean;
}

/** Adds --data and the flags that say how to read it. */
export function addDataFlags(cmd: Command, training = true): Command {
  cmd.option('--data <path>', 'your own data: an image folder (one sub-folder per class), a .npz, an x.npy (y.npy beside it) or a .csv (docs/data.md)')
    .option('--image-size <HxW>', '--data: resize images to H×W (CSV: the images\' size)')
    .option('--channels <n>', '--data: 1 (grey) or 3 (RGB)')
    .option('--resize <method>', '--data: bilinear or nearest (default bilinear)')
    .option('--val-fraction <x>', '--data: share of each class held out for validation (and test) when the files give none (default 0.1)')
    .option('--split-seed <n>', '--data: seed of that split (default 0)')
    .option('--normalize', '--data: normalise each channel by the training split\'s mean and std');
  if (training) cmd.option('--augment [spec]', '--data: training augmentation: crop after zero padding and horizontal flip; "pad=4,flip" (default), "pad=2", "flip"');
  return cmd;
}

const SIZE = /^(\d+)x(\d+)$/i;

/** The spec the flags give, or undefined without --data (the other flags then are errors). */
export function parseDataFlags(o: DataFlags): DataFileSpec | undefined {
  if (o.data == null) {
    const stray = ([['imageSize', '--image-size'], ['channels', '--channels'], ['resize', '--resize'], ['valFraction', '--val-fraction'], ['splitSeed', '--split-seed'], ['normalize', '--normalize'], ['augment', '--augment']] as const)
      .filter(([k]) => o[k] != null && o[k] !== false).map(([, f]) => f);
    if (stray.length > 0) throw new LowbitError(`${stray.join(', ')} appl${stray.length > 1 ? 'y' : 'ies'} to your own data: add --data PATH`);
    return undefined;
  }
  const spec: DataFileSpec = { path: o.data };
  if (o.imageSize != null) {
    const m = SIZE.exec(o.imageSize);
    const [h, w] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (!(h >= 1 && w >= 1 && h <= 4096 && w <= 4096)) throw new LowbitError(`--image-size must be HxW with whole numbers 1–4096 (e.g. 32x32), got ${shownValue(o.imageSize)}`);
    spec.imageSize = [h, w];
  }
  if (o.channels != null) spec.channels = Number(parseChoice(o.channels, '--channels', ['1', '3'] as const)) as 1 | 3;
  if (o.resize != null) spec.resize = parseChoice(o.resize, '--resize', ['bilinear', 'nearest'] as const);
  if (o.valFraction != null) {
    const f = parseFraction(o.valFraction, '--val-fraction');
    if (!(f > 0 && f < 0.5)) throw new LowbitError(`--val-fraction must be between 0 and 0.5 (exclusive), got ${shownValue(o.valFraction)}`);
    spec.valFraction = f;
  }
  if (o.splitSeed != null) spec.splitSeed = parseInteger(o.splitSeed, '--split-seed', 0);
  if (o.normalize) spec.normalize = true;
  if (o.augment != null && o.augment !== false) spec.augment = parseAugment(o.augment === true ? 'pad=4,flip' : o.augment);
  return spec;
}

function parseAugment(text: string): { pad: number; flip: boolean } {
  let pad = 0;
  let flip = false;
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^pad=(\d+)$/.exec(part);
    if (m) pad = parseInteger(m[1], '--augment pad', 0);
    else if (part === 'flip') flip = true;
    else throw new LowbitError(`--augment takes pad=N and/or flip (e.g. pad=4,flip), got ${shownValue(text)}`);
  }
  return { pad, flip };
}
