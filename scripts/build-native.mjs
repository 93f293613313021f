// npm install hook: builds the optional oneDNN addon (native/) when oneDNN's headers are present.
// Never fails the install (unless LOWBIT_REQUIRE_NATIVE=1): without the addon lowbit trains on wasm.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const say = (msg) => process.stderr.write(`lowbit: ${msg}\n`);
// LOWBIT_REQUIRE_NATIVE=1 (CI, where oneDNN is installed): a missing or failed addon fails the install.
const required = process.env.LOWBIT_REQUIRE_NATIVE === '1';
const skip = (msg) => {
  say(msg);
  process.exit(required ? 1 : 0);
};
if (process.env.LOWBIT_NATIVE === '0') {
  say('LOWBIT_NATIVE=0: not building the oneDNN addon');
  process.exit(0);
}
if (!existsSync('/usr/include/dnnl.hpp')) {
  skip('oneDNN not found, so the native fast path is off (enable it: apt-get install libdnnl-dev && npm rebuild lowbit)');
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) {
  skip('node-gyp not found, so the native fast path is off');
}
const nodedir = existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
const r = spawnSync(process.execPath, [candidates[0], 'rebuild', '--directory=native', '--loglevel=error', ...nodedir], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) skip('building the oneDNN addon failed (see above); lowbit will train on wasm');
else say('built the oneDNN addon (native backend)');
