/** Shared by the data-file tests: deterministic RGB images, written as PNGs and as class folders. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';

/** A pixel value for class k, image i, position (y, x), channel c. */
export type PixelFn = (k: number, i: number, y: number, x: number, c: number) => number;

/** The default deterministic test image: every pixel differs with class, index, position and channel. */
export const pixel: PixelFn = (k, i, y, x, c) => (k * 67 + i * 13 + y * 5 + x * 3 + c * 41) % 256;

export function rgbImage(k: number, i: number, h: number, w: number, value: PixelFn = pixel): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = value(k, i, y, x, c);
  return out;
}

export function writePng(file: string, rgb: Uint8Array, h: number, w: number): void {
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < h * w; p++) {
    png.data.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
    png.data[p * 4 + 3] = 255;
  }
  writeFileSync(file, PNG.sync.write(png));
}

/** A class folder: `classes` sub-folders of `perClass` h×w RGB PNGs; returns the images by content. */
export function pngFolder(dir: string, classes: string[], perClass: number, h = 32, w = 32, value: PixelFn = pixel): Map<string, number> {
  const byContent = new Map<string, number>();
  classes.forEach((name, k) => {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const rgb = rgbImage(k, i, h, w, value);
      writePng(join(dir, name, `${String(i).padStart(3, '0')}.png`), rgb, h, w);
      byContent.set(Buffer.from(rgb).toString('base64'), k);
    }
  });
  return byContent;
}
