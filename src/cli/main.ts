#!/usr/bin/env node
/** The `lowbit` command line: a thin layer over the library. Node-only. */
import { Command, CommanderError, Option } from 'commander';
import { fileSystemError, LowbitError } from '../errors.js';
import { lowbitVersion } from '../io/run-info.js';
import { modelNames } from '../models/index.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { verifyCommand } from './commands/verify.js';
import { quantizeCommand } from './commands/quantize.js';
import { runCommand } from './commands/run.js';
import { summaryCommand } from './commands/summary.js';
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
  $ lowbit quantize --method dorefa --teacher runs/lenet5-fashion --wbits 1 --epochs 3 --out runs/lenet5-fashion-w1
  $ lowbit quantize --method dcq --teacher runs/lenet5-fashion --wbits 1 --epochs-per-section 3 --out runs/lenet5-fashion-dcq-w1
  $ lowbit quantize --method bitat --teacher runs/mobilenet-tiny-fashion --distill --epochs-per-layer 1 --out runs/mnt-bitat
  $ lowbit dq train --dataset fashion-mnist --groups 4 --codes 32 --out runs/dq-m4
  $ lowbit summary runs/lenet5-fashion-w1
  $ lowbit export runs/lenet5-fashion-w1 --format qdq,qonnx,packed
  $ lowbit verify runs/lenet5-fashion-w1`);

/** The flags every training command shares. */
function trainingOptions(cmd: Command, defaults: { epochs: string; lr: string; schedule: string }): Command {
  return cmd
    .option('--epochs <n>', 'epochs', defaults.epochs)
    .option('--batch <n>', 'batch size', '64')
    .option('--lr <x>', 'base learning rate', defaults.lr)
    .option('--optimizer <name>', 'adam or sgd', 'adam')
    .option('--momentum <x>', 'SGD momentum', '0.9')
    .option('--schedule <name>', 'LR schedule: constant, step (×0.1 at 2/3), cosine, linear', defaults.schedule)
    .option('--weight-decay <x>', 'L2 penalty on kernels', '0')
    .option('--seed <n>', 'seed for initialisation, shuffling and noise', '0')
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
  .requiredOption('--dataset <name>', 'mnist (embedded ~10k digits) or fashion-mnist (IDX files)')
  .option('--width <x>', 'width multiplier', '1')
  .option('--out <dir>', 'output directory (default runs/MODEL-DATASET-sSEED)'), { epochs: '3', lr: '1e-3', schedule: 'step' })
  .action(trainCommand);

trainingOptions(program.command('quantize')
  .description('quantize a trained float model and fine-tune it (quantization-aware training)')
  .requiredOption('--method <name>', 'dorefa (fine-tune the whole model), dcq (sectional distillation), ste (round-and-clip, LSQ step), rq, rq-st or srq (relaxed quantization), bitat (1-bit, progressive)')
  .requiredOption('--teacher <dir>', 'the float model directory (from lowbit train)')
  .option('--wbits <n>', 'weight bits: 1, 2, 4, 8 (32 = float)', '1')
  .option('--abits <n>', 'activation bits: 2, 4, 8 (32 = float)', '32')
  .option('--dataset <name>', "dataset (default: the teacher's)")
  .option('--sections <cuts>', 'dcq: auto (dcq.md\'s cuts: after pooling / at stage ends) or layer names a,b', 'auto')
  .option('--epochs-per-section <n>', 'dcq: epochs for each section (default --epochs)')
  .option('--workers <n>', 'dcq: worker threads training sections in parallel (default: one per core; 0 = main thread)')
  .option('--last-loss <name>', "dcq: the last section's loss: ce (labels) or kd (½ CE + ½ KD on the teacher's logits, T = 4)", 'ce')
  .option('--bn-recal <n>', 'dorefa, ste, rq, rq-st, srq, dcq: re-estimate BatchNorm statistics on N training images after training (dcq: after stitching)', '0')
  .option('--section-lr <list>', 'dcq: one learning rate per section, e.g. 1e-3,5e-4 (default --lr for all)')
  .option('--finetune-epochs <n>', 'dcq: end-to-end fine-tune epochs after stitching', '0')
  .option('--dropbits <p>', 'srq: DropBits drop rate per bit on weights (reconstruction)')
  .option('--dropbits-mask <m>', 'srq --dropbits: gates drawn per element (default) or per layer and step (srq.md §3.2 leaves it open)')
  .option('--temperature <x>', 'rq, rq-st: concrete temperature λ')
  .option('--learn-bits', 'srq: learn each layer\'s weight bits (2 to --wbits) with hard-concrete bit gates (reconstruction); add --bn-recal 4096: fixing the bits changes BatchNorm\'s statistics')
  .option('--target-bits <B>', 'srq --learn-bits: the size-weighted average weight bits to aim for')
  .option('--bits-lambda <x>', 'srq --learn-bits: weight λ of the penalty λ·(average bits − target)²', '1')
  .option('--layer-bits <list>', 'ste, rq, rq-st, srq: per-layer weight bits, e.g. conv1=2,conv2=3 (others use --wbits)')
  .option('--cache-budget-mb <n>', 'dcq: teacher features stay in memory up to this size, else spill to files', '1024')
  .option('--variant <name>', 'bitat: bitat (PCA transform), progressive (schedule only, V = I, s = 1) or plain (1/1 QAT, all layers at once)', 'bitat')
  .option('--epochs-per-layer <n>', 'bitat: epochs per binarized layer (stage)', '1')
  .option('--final-epochs <n>', 'bitat: epochs after the last stage (binary kernels fixed)', '2')
  .option('--distill', "bitat: loss = KL to the teacher's softmax (ReActNet) instead of CE on labels")
  .option('--freeze-upper', 'bitat: freeze the float layers above the current stage (ablation)')
  .option('--fixed-transform', 'bitat: keep V and s at their PCA values (ablation)')
  .option('--rprelu', 'bitat: replace PReLU by ReActNet\'s RPReLU (learned shifts before and after)')
  .option('--out <dir>', 'output directory (default runs/MODEL-DATASET-METHOD-wWaA-sSEED)'), { epochs: '3', lr: '5e-4', schedule: 'step' })
  .action(quantizeCommand);

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
  .action(runCommand);

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
  .option('--max-delta <x>', 'largest allowed |Δlogit| (an activation level that rounds the other way moves logits by ~0.1)', '0.5')
  .option('--min-agreement <x>', 'smallest allowed top-1 agreement', '0.999')
  .option('--backend <name>', 'TF.js backend for the reference', 'auto')
  .option('--ort-optimizations <level>', "onnxruntime graph optimizations: basic (folds constants; checks the graph's semantics), all (lets ORT fuse QDQ into dynamically quantized integer kernels), extended, disabled", 'basic')
  .option('--json <file>', 'also write the results as JSON')
  .action(verifyCommand);

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
  .requiredOption('--dataset <name>', 'mnist or fashion-mnist')
  .option('--groups <M>', 'channel groups per level, one codebook each (1 = plain VQ)', '4')
  .option('--codes <K>', 'codes per codebook', '32')
  .option('--levels <n>', '1 (8×8 codes) or 2 (8×8 and 4×4)', '2')
  .option('--embed <n>', 'quantized channels per position M·D (D = embed / groups)', '32')
  .option('--width <n>', 'encoder/decoder width C', '32')
  .option('--mixtures <n>', 'logistic mixture components of the output head', '5')
  .option('--learning <name>', 'codebooks by ema (EMA k-means, the authors\' code) or loss (codebook loss)', 'ema')
  .option('--init <name>', 'codebook init: normal (N(0,1)), batch (first-batch samples) or kmeans', 'normal')
  .option('--out <dir>', 'output directory (default runs/dq-DATASET-mM-kK-sSEED)'), { epochs: '3', lr: '2e-3', schedule: 'constant' })
  .action(dqTrainCommand);
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
  .action(evalCommand);

try {
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
