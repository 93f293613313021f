/**
 * RPReLU (ReActNet, Liu et al., ECCV 2020, arXiv:2003.03488 §3.2): y = PReLU(x − γ) + ζ with a
 * learned shift γ and ζ per channel and PReLU's learned slope. Its first weight has the shape of
 * PReLU's alpha, so a PReLU's weights copy into it and γ = ζ = 0 starts as that PReLU exactly.
 */
import * as tf from '../backend/tf.js';
import { single } from './quant-base.js';

type Shape = Array<number | null>;

export interface RPReLUArgs {
  name?: string;
  /** Axes the slope is shared over (as tf.layers.prelu), e.g. [1, 2] for one slope per channel. */
  sharedAxes?: number[] | number | null;
  [key: string]: unknown;
}

export class RPReLU extends tf.layers.Layer {
  static className = 'RPReLU';
  private readonly sharedAxes: number[];
  private alpha!: tf.LayerVariable;
  private shiftIn!: tf.LayerVariable;
  private shiftOut!: tf.LayerVariable;

  constructor(args: RPReLUArgs) {
    super({ name: args.name });
    const s = args.sharedAxes;
    this.sharedAxes = s == null ? [] : Array.isArray(s) ? s : [s];
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const alphaShape = shape.slice(1).map((d, i) => (this.sharedAxes.includes(i + 1) ? 1 : d as number));
    const c = shape[shape.length - 1] as number;
    this.alpha = this.addWeight('alpha', alphaShape, 'float32', tf.initializers.constant({ value: 0.25 }));
    this.shiftIn = this.addWeight('shift_in', [c], 'float32', tf.initializers.zeros());
    this.shiftOut = this.addWeight('shift_out', [c], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = tf.sub(single(inputs), this.shiftIn.read());
      return tf.add(tf.sub(tf.relu(x), tf.mul(this.alpha.read(), tf.relu(tf.neg(x)))), this.shiftOut.read());
    });
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), sharedAxes: this.sharedAxes };
  }
}

tf.serialization.registerClass(RPReLU as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
