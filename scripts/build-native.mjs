// npm install hook: builds the optional oneDNN addon (native/) when oneDNN's headers are present.
// Never fails the install: without the addon lowbit trains on wasm.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const say = (msg) => process.stderr.write(`lowbit: ${msg}\n`);
if (process.env.LOWBIT_NATIVE === '0') {
  say('LOWBIT_NATIVE=0: not building the oneDNN addon');
  process.exit(0);
}
if (!existsSync('/usr/include/dnnl.hpp')) {
  say('oneDNN not found, so the native fast path is off (enable it: apt-get install libdnnl-dev && npm rebuild lowbit)');
  process.exit(0);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) {
  say('node-gyp not found, so the native fast path is off');
  process.exit(0);
}
const nodedir = existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
const r = spawnSync(process.execPath, [candidates[0], 'rebuild', '--directory=native', '--loglevel=error', ...nodedir], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) say('building the oneDNN addon failed (see above); lowbit will train on wasm');
else say('built the oneDNN addon (native backend)');
