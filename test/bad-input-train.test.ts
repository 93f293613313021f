import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { at, fixtures, quantize, readOnly, Row, runRows, tiny, train } from './bad-input-helpers.js';
import { firstPassOnly } from './helpers.js';

test('bad input to train and quantize (numbers, subsets, data, --out, --resume, locks): exit 2, one line naming the problem and the fix, nothing written', { skip: firstPassOnly }, async () => {
  const { trained, idxDirs } = await fixtures();
  const rows: Row[] = [
    ['--epochs 0x2', train('--epochs', '0x2', '--out', at('o1')), /--epochs must be a whole number ≥ 1, got '0x2'/, at('o1')],
    ['--epochs 2abc', train('--epochs', '2abc', '--out', at('o2')), /--epochs must be a whole number ≥ 1, got '2abc'/, at('o2')],
    ['--batch 1.5', train('--batch', '1.5', '--out', at('o3')), /--batch must be a whole number ≥ 1, got '1.5'/, at('o3')],
    ['--lr Infinity', train('--lr', 'Infinity', '--out', at('o4')), /--lr must be a positive number, got 'Infinity'/, at('o4')],
    ['--lr 0x10', train('--lr', '0x10', '--out', at('o5')), /--lr must be a positive number, got '0x10'/, at('o5')],
    ['--seed 1e3', train('--seed', '1e3', '--out', at('o6')), /--seed must be a whole number ≥ 0, got '1e3'/, at('o6')],
    ['--max-steps with a newline', train('--max-steps', '3\n4', '--out', at('o7')), /--max-steps must be a whole number ≥ 1, got "3\\n4"/, at('o7')],
    ['--train-subset 0', train('--train-subset', '0', '--out', at('o8')), /--train-subset must be a whole number ≥ 1, got '0'/, at('o8')],
    ['--train-subset 5 (fewer than the classes)', train('--train-subset', '5', '--out', at('o9')), /subset of 5 images is impossible: .*10 classes; pass --train-subset between 10 and \d+/, at('o9')],
    ['--train-subset larger than the training set', train('--train-subset', '999999', '--out', at('o10')), /subset of 999999 images is impossible: mnist has \d+ training images/, at('o10')],
    ['--data-dir with mnist', train('--data-dir', idxDirs, '--out', at('o11')), /--data-dir applies to fashion-mnist .* drop --data-dir/, at('o11')],
    ['IDX files that are directories', ['train', '--model', 'lenet5', '--dataset', 'fashion-mnist', ...tiny, '--data-dir', idxDirs, '--out', at('o12')], /idx[13]-ubyte is a directory, not an IDX file/, at('o12')],
    ['train --out a file', train('--out', at('a-file')), /--out .*a-file is (not writable: .*)?a file, not a directory/, at('a-file')],
    ['train --out under a file (ENOTDIR)', train('--out', join(at('a-file'), 'run')), /--out .* is not writable: .*a-file is a file, not a directory/, at('a-file')],
    ['train --out under /proc', train('--out', '/proc/lowbit-test/run'), /--out \/proc\/lowbit-test\/run is not writable: \/proc is on the proc pseudo file system/, '/proc/lowbit-test'],
    ['train --out under /proc/self', train('--out', '/proc/self/lowbit/run'), /is on the proc pseudo file system/, '/proc/self/lowbit'],
    ['train --out read-only', train('--out', join(readOnly, 'run')), /--out .* is not writable/, readOnly],
    ['--resume on a missing directory', train('--resume', '--out', at('o13')), /--resume: .* does not exist; run without --resume/, at('o13')],
    ['--resume with another seed', train('--resume', '--seed', '1', '--out', trained), /--resume: .*checkpoint\.lbck was written by a run with other settings \(train\.seed 0 ≠ 1\)/, trained],
    ['--resume with another optimizer and lr', train('--resume', '--optimizer', 'sgd', '--lr', '0.01', '--out', trained), /other settings \(.*train\.learningRate 0\.001 ≠ 0\.01.*train\.optimizer\.name "adam" ≠ "sgd"/, trained],
    ['--resume with another batch', train('--resume', '--batch', '8', '--out', trained), /other settings \(train\.batchSize 16 ≠ 8\)/, trained],
    ['--resume with a training subset', train('--resume', '--train-subset', '100', '--out', trained), /other settings \(.*trainSubset null ≠ 100/, trained],
    ['--resume with another model width', train('--resume', '--width', '0.5', '--out', trained), /other settings \(options\.width 1 ≠ 0\.5\)/, trained],
    ['--resume with another command', quantize(trained, '--resume', '--out', trained), /--resume: .*was written by a run with other settings \(command "float" ≠ "dorefa"; /, trained],
    ['a fresh run into a finished run', train('--out', trained), /already exists and is not empty: pass --resume/, trained],
    ['a run directory locked by a live process', train('--out', at('locked')), new RegExp(`is being written by process ${process.pid}; wait for it to finish or choose another --out`), at('locked')],
  ];
  assert.deepEqual(await runRows(rows), []);
  assert.equal(readFileSync(join(at('locked'), '.lowbit.lock'), 'utf8'), `${process.pid}\n`, 'a live lock is left alone');
});
