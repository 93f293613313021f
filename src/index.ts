/**
 * lowbit: quantization-aware training for TensorFlow.js — the browser-safe core.
 * Node-only parts (dataset files, checkpoints on disk, model directories) are in 'lowbit/node'.
 */
export { tf, setBackend, ensureBackend, getBackendName, backendAvailable, backendNames, wasmTrainingKernelNames } from './backend/index.js';
export type { BackendName, BackendOptions } from './backend/index.js';
export { LowbitError } from './errors.js';
export { Rng, mulberry32 } from './random.js';
export * from './data/index.js';
export { buildModel, modelNames, modelRegistry, ModelBuilder } from './models/index.js';
export type { ModelOptions } from './models/index.js';
export * from './train/index.js';
export * as quantizers from './quantizers/index.js';
export type { QuantizerSpec, Quantizer, QuantizerRole } from './quantizers/index.js';
export { registerQuantizer, quantizerKind, registeredQuantizerKinds } from './quantizers/index.js';
export type {
  QuantizerKind, QuantGrid, UniformGrid, CodebookGrid, MultibitGrid, GridInput, QuantizerParam, QuantizerContext, QuantizerSpecInput, CustomQuantizerSpec,
} from './quantizers/index.js';
export { QuantConv2D, QuantDepthwiseConv2D, QuantDense, QuantActivation, isQuantLayer } from './layers/quant-layers.js';
export type { QuantTransform } from './layers/quant-layers.js';
export { RPReLU } from './layers/rprelu.js';
export { DepthwiseQuantizer, VectorQuantizer } from './layers/depthwise-quantizer.js';
export type { DepthwiseQuantizerArgs, QuantizerStats } from './layers/depthwise-quantizer.js';
export { quantizeModel, planQuantization } from './layers/quantize-model.js';
export type { QuantizeConfig, LayerOverride, LayerMatch, LayerPlan } from './layers/quantize-model.js';
export { summary, formatSummary } from './report/summary.js';
export type { ModelSummary, LayerSummary } from './report/summary.js';
export { dorefaConfig, dorefaModel } from './methods/dorefa/index.js';
export type { DorefaOptions } from './methods/dorefa/index.js';
export { runBitat, bitatStudent, bitatStages, bitatQuantizeConfig, bitatVariants, withTeacherLogits } from './methods/bitat/run.js';
export type { BitatOptions, BitatResult, BitatVariant, StageReport } from './methods/bitat/run.js';
export { BitatTransform } from './methods/bitat/transform.js';
export { relaxedConfig, relaxedModel, mseOptimalAlpha } from './methods/srq/index.js';
export type { RelaxedMethodName, RelaxedRecipe } from './methods/srq/index.js';
export { expectedAverageBits, bitWidthLoss, readLearnedBits, fixLearnedBits } from './methods/srq/learned-bits.js';
export { buildDqAutoencoder, quantizersOf, encoderModel, decoderModel } from './methods/dq/model.js';
export type { DqModelOptions } from './methods/dq/model.js';
export { dqLoss, evaluateDq, codeMutualInformation } from './methods/dq/run.js';
export type { DqEvaluation, LevelReport } from './methods/dq/run.js';
export { encodeImages, decodeCodes, quantizedFeatures, serializeCodes, parseCodes } from './methods/dq/codes.js';
export type { DqCodes, CodeLevel } from './methods/dq/codes.js';
export { correlationAnalysis } from './methods/dq/analysis.js';
export { postTrainingQuantize, ptqMethod, clipThreshold, minmaxThreshold, percentileThreshold, mseThreshold, aciqThreshold, aciqOptimalRatio, observerNames } from './methods/ptq/index.js';
export type { PtqOptions, PtqReport, ObserverName, RangeStats } from './methods/ptq/index.js';
export { productQuantize, pqMethod, pqLayerSpec, weightedKMeans, metricError } from './methods/pq/index.js';
export type { PqOptions, PqReport, PqLayerReport, KMeansResult } from './methods/pq/index.js';
export { foldBatchNorm, batchNormFolds, foldWeights } from './layers/batchnorm-fold.js';
export type { BatchNormFold, BatchNormParams } from './layers/batchnorm-fold.js';
export { packModel, unpackModel, packBits, unpackBits, PACKED_FORMAT } from './export/packed.js';
export type { PackedManifest, PackedWeight } from './export/packed.js';
export { profileTrainStep } from './report/step-profile.js';
export type { StepProfile } from './report/step-profile.js';
// Methods as library objects and the one run engine.
export { runMethod, registerMethod, getMethod, methodNames, resolveTrain, trainClassifier, DEFAULT_TRAIN } from './run/method.js';
export type { Method, MethodOutput, RunContext, ResolvedContext, RunResult, ClassifierTraining } from './run/method.js';
export type { OptionSpec, OptionType, RawOptions } from './run/options.js';
export { MemoryStore, MemoryCheckpointStore } from './run/store.js';
export type { RunStore } from './run/store.js';
export { parseRunRecord, parseRecordJson, classifierRecord, RUN_RECORD_VERSION } from './run/record.js';
export type { RunRecord, ClassifierRecord, DqRunRecord, Provenance } from './run/record.js';
export { floatMethod, dorefaMethod, steMethod, rqMethod, rqStMethod, srqMethod, bitatMethod, dqMethod, sqMethod, alqMethod } from './methods/index.js';
export type { FloatOptions } from './methods/float/index.js';
export type { DorefaMethodOptions } from './methods/dorefa/index.js';
export type { RelaxedOptions } from './methods/srq/method.js';
export type { BitatMethodOptions } from './methods/bitat/method.js';
export type { DqMethodOptions } from './methods/dq/method.js';
export type { SqOptions } from './methods/sq/method.js';
export type { AlqOptions } from './methods/alq/method.js';
export type { AlqReport } from './methods/alq/alq.js';
