/**
 * `lowbit studio`: serves the studio page (dist/studio, built by scripts/build-studio.mjs) on
 * 127.0.0.1 with node:http, with COOP/COEP headers (the page is cross-origin isolated, so
 * threaded wasm can start). The page trains in the browser; the server only hands out files. Node-only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LowbitError } from '../../errors.js';
import { parseInteger } from '../options.js';

/** Where the built page is: dist/studio beside dist/src. */
export const STUDIO_DIR = fileURLToPath(new URL('../../../studio/', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** Starts the studio server; resolves with its URL once it listens. */
export async function serveStudio(o: { port?: number; host?: string; dir?: string } = {}): Promise<{ url: string; server: Server }> {
  const dir = o.dir ?? STUDIO_DIR;
  if (!existsSync(join(dir, 'index.html'))) {
    throw new LowbitError(`the studio page is not built (${join(dir, 'index.html')} is missing): run npm run build`);
  }
  const root = normalize(dir).replace(/[\\/]$/, '') + sep;
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-cache' };
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404, headers).end('not found'); return; }
    res.writeHead(200, { ...headers, 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new LowbitError(`port ${o.port} on ${host} is in use: pass another --port (0 picks a free one)`) : e));
    server.listen(o.port ?? 0, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${shown}:${address.port}/`, server };
}

export async function studioCommand(o: { port: string; host: string }): Promise<void> {
  const port = parseInteger(o.port, '--port', 0);
  if (port > 65535) throw new LowbitError(`--port must be at most 65535, got ${port}`);
  const { url } = await serveStudio({ port, host: o.host });
  process.stdout.write(`lowbit studio: ${url}\nopen it in a browser; training runs there, nothing leaves this machine (Ctrl-C stops the server)\n`);
}
