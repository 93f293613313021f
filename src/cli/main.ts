#!/usr/bin/env node
/** The `lowbit` command line: a thin layer over the library. Node-only. */
import { Command, CommanderError, Option } from 'commander';
import { ensureBackend } from '../backend/index.js';
import { fileSystemError, LowbitError } from '../errors.js';
import { lowbitVersion } from '../io/run-info.js';
import { modelNames } from '../models/index.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { verifyCommand } from './commands/verify.js';
import { quantizeCommand, quantizeMethods, quantizeOptionOwners, quantizeOptionSpecs } from './commands/quantize.js';
import { getMethod } from '../run/method.js';
import { addMethodFlags } from './run-training.js';
import { addDataFlags } from './data-flags.js';
import '../methods/node.js';
import { runCommand } from './commands/run.js';
import { workerCommand } from './commands/worker.js';
import { summaryCommand } from './commands/summary.js';
import { studioCommand } from './commands/studio.js';
import { trainCommand } from './commands/train.js';
import { dqDecodeCommand, dqEncodeCommand, dqEvalCommand, dqExportCommand, dqTrainCommand } from './commands/dq.js';

const program = new Command();
program
  .name('lowbit')
  .description('Quantization-aware training for TensorFlow.js: 1–8 bit weights and activations.')
  .version(lowbitVersion())
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str.startsWith('error:') ? `lowbit: ${str}` : str) })
  .addHelpText('after', `
Examples:
  $ lowbit demo
  $ lowbit train --model lenet5 --dataset mnist --epochs 3
  $ lowbit train --model lenet5 --dataset fashion-mnist --epochs 10 --out runs/lenet5-fashion
  $ lowbit train --model lenet5 --dataset fashion-mnist --epochs 10 --out runs/lenet5-fashion --resume
  $ lowbit eval runs/lenet5-fashion
  $ lowbit train --model resnet20 --data my-photos/ --image-size 32x32 --augment --out runs/photos
  $ lowbit quantize --method dorefa --teacher runs/lenet5-fashion --wbits 1 --epochs 3 --out runs/lenet5-fashion-w1
  $ lowbit quantize --method dcq --teacher runs/lenet5-fashion --wbits 1 --epochs-per-section 3 --out runs/lenet5-fashion-dcq-w1
  $ lowbit quantize --method bitat --teacher runs/mobilenet-tiny-fashion --distill --epochs-per-layer 1 --out runs/mnt-bitat
  $ lowbit dq train --dataset fashion-mnist --groups 4 --codes 32 --out runs/dq-m4
  $ lowbit summary runs/lenet5-fashion-w1
  $ lowbit export runs/lenet5-fashion-w1 --format qdq,qonnx,packed
  $ lowbit verify runs/lenet5-fashion-w1`);

/** The flags every training command shares; unset ones take the method's defaults. */
function trainingOptions(cmd: Command, defaults: { epochs: string; lr: string; schedule: string }): Command {
  return addDataFlags(cmd)
    .option('--epochs <n>', `epochs (default ${defaults.epochs})`)
    .option('--batch <n>', 'batch size (default 64)')
    .option('--lr <x>', `base learning rate (default ${defaults.lr})`)
    .option('--optimizer <name>', 'adam or sgd (default adam)')
    .option('--momentum <x>', 'SGD momentum (default 0.9)')
    .option('--schedule <name>', `LR schedule: constant, step (×0.1 at 2/3), cosine, linear (default ${defaults.schedule})`)
    .option('--weight-decay <x>', 'L2 penalty on kernels (default 0)')
    .option('--seed <n>', 'seed for initialisation, shuffling and noise (default 0)')
    .option('--backend <name>', 'auto (native oneDNN if built, else wasm), native, wasm or cpu', 'auto')
    .option('--data-dir <dir>', 'directory of Fashion-MNIST IDX files (default $LOWBIT_DATA_DIR or /usr/share/datasets/fashion-mnist)')
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--train-subset <n>', 'train on a fixed class-balanced subset of N training images')
    .addOption(new Option('--max-steps <n>', 'limit steps per epoch (smoke tests)').hideHelp())
    .option('--quiet', 'no progress output');
}

trainingOptions(program.command('train')
  .description('train a reference model from scratch (checkpoint every epoch; --resume continues)')
  .requiredOption('--model <name>', `reference model: ${modelNames.join(', ')}`)
  .option('--dataset <name>', 'mnist (embedded ~10k digits) or fashion-mnist (IDX files); or --data PATH')
  .option('--out <dir>', 'output directory (default runs/MODEL-DATASET-sSEED)'), { epochs: '3', lr: '1e-3', schedule: 'step' });
addMethodFlags(program.commands.at(-1)!, getMethod('float').options).action(trainCommand);

trainingOptions(program.command('quantize')
  .description('quantize a trained float model and fine-tune it (quantization-aware training)')
  .requiredOption('--method <name>', `${quantizeMethods().map((m) => `${m} (${getMethod(m).description})`).join('; ')}`)
  .requiredOption('--teacher <path>', 'the float model: a directory from lowbit train, or any TF.js LayersModel (model.json or its directory; see docs/models.md)')
  .option('--dataset <name>', "dataset (default: the teacher's)")
  .option('--epochs-per-section <n>', 'dcq: epochs for each section (the same as --epochs)')
  .option('--out <dir>', 'output directory (default runs/MODEL-DATASET-METHOD-wWaA-sSEED)'), { epochs: '3', lr: '5e-4', schedule: 'step' });
addMethodFlags(program.commands.at(-1)!, quantizeOptionSpecs(), quantizeOptionOwners()).action(quantizeCommand);

program.command('demo')
  .description('train a float lenet5 on the embedded MNIST subset, quantize it with DoReFa W1, DCQ W1 and SRQ W2/A2, print a table and write lowbit-demo/report.html')
  .option('--out <dir>', 'output directory (rerunning reuses finished steps)', 'lowbit-demo')
  .option('--epochs <n>', 'teacher epochs (quantized runs get one fewer)', '3')
  .option('--backend <name>', 'auto (native oneDNN if built, else wasm), native, wasm or cpu', 'auto')
  .addOption(new Option('--max-steps <n>', 'limit steps per epoch (smoke tests)').hideHelp())
  .option('--quiet', 'no progress output')
  .action(demoCommand);

program.command('run')
  .description('run an experiment recipe (JSON, schema recipes/recipe.schema.json); finished runs are appended to OUT/results.json')
  .argument('<recipe>', 'recipe file')
  .option('--out <dir>', 'output directory (default runs/NAME)')
  .option('--resume', 'skip the runs already in results.json')
  .option('--quiet', 'no progress output')
  .option('--queue <url>', 'run on a BullMQ job queue in Redis (redis://HOST:PORT[/DB]) taken by `lowbit worker`s; see docs/sweeps.md')
  .option('--no-wait', 'with --queue: only enqueue the runs that can start now, then exit')
  .option('--attempts <n>', 'with --queue: attempts per run before it fails (default 3)')
  .action(runCommand);

program.command('worker')
  .description('take recipe runs from a job queue (lowbit run RECIPE --queue URL) and run them; the output directory must be shared (docs/sweeps.md)')
  .requiredOption('--queue <url>', 'the Redis URL the recipe was enqueued on (redis://HOST:PORT[/DB])')
  .option('--concurrency <n>', 'runs at a time, each in its own thread', '1')
  .option('--name <name>', 'this worker\'s name in progress lines (default HOST:PID)')
  .option('--backend <name>', 'native, wasm or cpu for runs whose recipe sets no backend (default: native if built, else wasm); a recipe\'s own backend is kept')
  .option('--local-dir <dir>', 'for a machine that does not share the output directory: write runs here and send them back in the job; the teacher comes in the job')
  .addOption(new Option('--lock-ms <n>', 'BullMQ lock duration (tests)').hideHelp())
  .addOption(new Option('--stalled-ms <n>', 'BullMQ stalled-job check interval (tests)').hideHelp())
  .option('--quiet', 'no progress output')
  .action(workerCommand);

program.command('export')
  .description('export a model: onnx (float), qdq (int8 QuantizeLinear/DequantizeLinear, opset 13), qdq4 (int4 weights where they fit, opset 21), qonnx (Quant/BipolarQuant), packed (real bit-widths)')
  .argument('<dir>', 'model directory')
  .requiredOption('--format <list>', 'onnx, qdq, qdq4, qonnx, packed, or a comma-separated list')
  .option('--out <dir>', 'where to write (default DIR/export)')
  .option('--dry-run', 'only print what the target cannot represent and what it will do instead')
  .action(exportCommand);

program.command('verify')
  .description('run exported models (onnxruntime-node for ONNX) against the TF.js model on test images')
  .argument('<dir>', 'model directory with an export/ folder')
  .option('--format <list>', 'which exports to check (default: every one found)')
  .option('--images <n>', 'test images', '1000')
  .option('--dataset <name>', "dataset (default: the model's)")
  .option('--data-dir <dir>', 'directory of Fashion-MNIST IDX files')
  .option('--data <path>', "your own data files (default: the model's, from its lowbit.json)")
  .option('--max-delta <x>', 'largest allowed |Δlogit| (an activation level that rounds the other way moves logits by ~0.1)', '0.5')
  .option('--min-agreement <x>', 'smallest allowed top-1 agreement', '0.999')
  .option('--backend <name>', 'TF.js backend for the reference', 'auto')
  .option('--ort-optimizations <level>', "onnxruntime graph optimizations: basic (folds constants; checks the graph's semantics), all (lets ORT fuse QDQ into dynamically quantized integer kernels), extended, disabled", 'basic')
  .option('--runtime', "run the packed export in lowbit's bitwise runtime (lowbit/runtime) instead of the exports' own runtimes")
  .option('--runtime-kernels <name>', 'kernels for --runtime: native (the addon), js (reference) or wasm (default: native when built, else js)')
  .option('--json <file>', 'also write the results as JSON')
  .action(verifyCommand);

program.command('studio')
  .description('serve the lowbit studio page: quantize a model in your browser (training runs in the page; nothing leaves the machine)')
  .option('--port <n>', 'port to listen on (0: a free one)', '8787')
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .action(studioCommand);

program.command('summary')
  .description('per-layer bits, parameters, bytes and MACs of a saved model, and its compression')
  .argument('<dir>', 'model directory')
  .option('--json', 'print the summary as JSON')
  .option('--train-memory', 'also measure the peak tensor memory of one training step (Adam) on a random batch')
  .option('--batch <n>', 'batch size for --train-memory', '128')
  .option('--backend <name>', 'auto, native, wasm or cpu (for --train-memory)', 'auto')
  .action(summaryCommand);

const dq = program.command('dq').description('Depthwise Quantization: a hierarchical VQ auto-encoder with M codebooks per level, in bits/dim');
trainingOptions(dq.command('train')
  .description('train a DQ auto-encoder (28×28 images padded to 32×32; 8×8 and 4×4 code grids)')
  .option('--dataset <name>', 'mnist or fashion-mnist; or --data PATH (28×28×1 images)')
  .option('--out <dir>', 'output directory (default runs/dq-mM-kK-DATASET-sSEED)'), { epochs: '3', lr: '2e-3', schedule: 'constant' });
addMethodFlags(dq.commands.at(-1)!, getMethod('dq').options).action(dqTrainCommand);
/** A `lowbit dq` subcommand on a run directory, with --backend (and --data-dir when it reads a dataset). */
function dqCommand(name: string, description: string, readsData: boolean): Command {
  const cmd = dq.command(name).description(description)
    .argument('<dir>', 'a directory written by lowbit dq train')
    .option('--backend <name>', 'auto, native, wasm or cpu', 'auto');
  return readsData ? cmd.option('--data-dir <dir>', 'directory of Fashion-MNIST IDX files') : cmd;
}
dqCommand('eval', 'bits/dim, MSE and code usage of a trained DQ auto-encoder', true)
  .option('--split <name>', 'test or val', 'test')
  .action(dqEvalCommand);
dqCommand('encode', 'write the codes of a split\'s images to an index file', true)
  .requiredOption('--out <file>', 'the code file to write')
  .option('--split <name>', 'test, val or train', 'test')
  .option('--count <n>', 'the first N images (default: all)')
  .action(dqEncodeCommand);
dqCommand('decode', 'decode an index file to images (a PNG grid of up to 64)', false)
  .requiredOption('--codes <file>', 'a code file from lowbit dq encode')
  .requiredOption('--out <file.png>', 'the PNG to write')
  .action(dqDecodeCommand);
dqCommand('export', 'write the encoder (image → codes) and decoder (codes → mixture parameters) as ONNX and check them in onnxruntime', true)
  .option('--out <dir>', 'output directory (default DIR/export)')
  .option('--images <n>', 'test images to check onnxruntime against TF.js on', '500')
  .action(dqExportCommand);

program.command('eval')
  .description('evaluate a saved model on a dataset split')
  .argument('<dir>', 'model directory (model.json + weights.bin)')
  .option('--dataset <name>', 'dataset (default: the one in lowbit.json)')
  .option('--split <name>', 'test or val', 'test')
  .option('--batch <n>', 'batch size', '256')
  .option('--backend <name>', 'auto (native oneDNN if built, else wasm), native, wasm or cpu', 'auto')
  .option('--data-dir <dir>', 'directory of Fashion-MNIST IDX files')
  .option('--data <path>', "your own data files (default: the model's, from its lowbit.json)")
  .action(evalCommand);

try {
  // The library starts no backend at import; the CLI starts wasm up front as it always has
  // (--backend may then switch to native or cpu), so every command finds a ready backend.
  await ensureBackend();
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof LowbitError) {
    process.stderr.write(`lowbit: error: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else if (fileSystemError(e) != null) {
    process.stderr.write(`lowbit: error: ${fileSystemError(e)!.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`lowbit: internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
}
