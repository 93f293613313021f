/**
 * Copies a finished run's metadata into bench/results with the exact command that made it:
 *   node dist/bench/record-run.js RUN_DIR NAME "COMMAND" [CONSOLE_LOG]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, name, command, consoleLog] = process.argv.slice(2);
if (!dir || !name || !command) {
  process.stderr.write('usage: node dist/bench/record-run.js RUN_DIR NAME "COMMAND" [CONSOLE_LOG]\n');
  process.exit(2);
}
const run = JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'));
const output = consoleLog && existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8').trim().split('\n') : undefined;
writeFileSync(`bench/results/${name}.json`, `${JSON.stringify({ command, output, run }, null, 2)}\n`);
process.stderr.write(`wrote bench/results/${name}.json\n`);
