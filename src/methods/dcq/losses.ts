/** DCQ's section losses (dcq.md §2.2 step 4, §4.3). */
import * as tf from '../../backend/tf.js';
import type { LossFn } from '../../train/evaluate.js';

/** Intermediate sections: MSE, the plain mean over all elements, against the teacher's features. */
export const sectionMSE: LossFn = (output, batch) => tf.mean(tf.squaredDifference(output, batch.target!)) as tf.Scalar;

/**
 * Last section, KD variant: ½·CE(labels) + ½·T²·KL(softmax(t/T) ‖ softmax(s/T)) with the
 * teacher's logits t as the target (T = 4).
 */
export function distillationLoss(temperature = 4, ceWeight = 0.5): LossFn {
  return (logits, batch) => tf.tidy(() => {
    const ce = tf.losses.softmaxCrossEntropy(batch.y, logits);
    const pt = tf.softmax(tf.div(batch.target!, temperature));
    const logPs = tf.logSoftmax(tf.div(logits, temperature));
    const logPt = tf.log(tf.maximum(pt, 1e-12));
    const kl = tf.mean(tf.sum(tf.mul(pt, tf.sub(logPt, logPs)), -1));
    return tf.add(tf.mul(ce, ceWeight), tf.mul(kl, (1 - ceWeight) * temperature * temperature)) as tf.Scalar;
  });
}
