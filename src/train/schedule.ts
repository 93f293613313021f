import { LowbitError } from '../errors.js';

/**
 * Learning-rate schedules, evaluated per step at progress t = step / totalSteps ∈ [0, 1):
 * - constant: lr
 * - step: lr · gamma^(number of milestones ≤ t), milestones as fractions of the run (default [2/3])
 * - cosine: lr · ½(1 + cos(π t))
 * - linear: lr · (1 − t)
 */
export type ScheduleName = 'constant' | 'step' | 'cosine' | 'linear';
export const scheduleNames: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'linear'];

export interface ScheduleConfig {
  name: ScheduleName;
  milestones?: number[];
  gamma?: number;
}

export function learningRateAt(base: number, schedule: ScheduleConfig, step: number, totalSteps: number): number {
  const t = totalSteps > 0 ? Math.min(1, step / totalSteps) : 0;
  switch (schedule.name) {
    case 'constant':
      return base;
    case 'step': {
      const passed = (schedule.milestones ?? [2 / 3]).filter((m) => t >= m).length;
      return base * Math.pow(schedule.gamma ?? 0.1, passed);
    }
    case 'cosine':
      return base * 0.5 * (1 + Math.cos(Math.PI * t));
    case 'linear':
      return base * (1 - t);
    default:
      throw new LowbitError(`unknown LR schedule '${(schedule as { name: string }).name}': choose one of ${scheduleNames.join(', ')}`);
  }
}
