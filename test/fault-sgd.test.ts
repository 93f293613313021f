import { test } from 'node:test';
import { crashAndResume } from './fault-helpers.js';
import { firstPassOnly } from './helpers.js';

test('SGD with momentum: killed at every kind of write (checkpoint, log, model) and resumed, the weights equal the uninterrupted run\'s byte for byte', { skip: firstPassOnly }, async () => {
  await crashAndResume('sgd');
});
