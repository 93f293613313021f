/** The one progress reporter: a bar on a TTY (cli-progress), plain lines otherwise. Node-only. */
import cliProgress from 'cli-progress';
import type { EpochRecord } from '../train/checkpoint.js';
import type { StepInfo, TrainHooks } from '../train/loop.js';

export interface ProgressOptions {
  /** Label before each line, e.g. "lenet5/mnist". */
  label: string;
  totalEpochs: number;
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

/** The epoch's learning rate, or "first→last" when the schedule changed it during the epoch. */
function learningRates(r: EpochRecord): string {
  const last = r.learningRate.toExponential(2);
  const first = r.firstLearningRate != null ? r.firstLearningRate.toExponential(2) : last;
  return first === last ? last : `${first}→${last}`;
}

export function formatEpoch(r: EpochRecord, totalEpochs: number): string {
  return `epoch ${r.epoch}/${totalEpochs}  loss ${fmt(r.trainLoss)}  acc ${fmt(r.trainAccuracy * 100, 2)}%  ` +
    `val_loss ${fmt(r.valLoss)}  val_acc ${fmt(r.valAccuracy * 100, 2)}%  lr ${learningRates(r)}  ` +
    `${r.seconds.toFixed(1)}s  ${Math.round(r.imagesPerSecond)} img/s`;
}

export function progressHooks(options: ProgressOptions): Pick<TrainHooks, 'onStep' | 'onEpochStart' | 'onEpoch'> {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return {};
  let bar: cliProgress.SingleBar | null = null;
  const tty = stream.isTTY === true;
  return {
    onEpochStart: (epoch, steps) => {
      if (!tty) return;
      bar = new cliProgress.SingleBar({
        stream, format: `${options.label} epoch ${epoch}/${options.totalEpochs} [{bar}] {value}/{total} loss {loss} | ETA {eta_formatted}`,
        hideCursor: true, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      bar.start(steps, 0, { loss: '—' });
    },
    onStep: (s: StepInfo) => bar?.update(s.step, { loss: s.loss.toFixed(4) }),
    onEpoch: (r) => {
      bar?.stop();
      bar = null;
      stream.write(`${options.label} ${formatEpoch(r, options.totalEpochs)}\n`);
    },
  };
}
