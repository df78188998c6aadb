// The framework-free PlanOut core: `nestjs-planout/core`.
export { Assignment } from './assignment.js';
export { compilePlanout } from './compiler/index.js';
export {
  DEFAULT_EVALUATION_BUDGET,
  MAX_NESTING,
  type EvaluationBudget,
  type EvaluationMeter,
} from './budget.js';
export {
  PlanoutArgumentError,
  PlanoutBudgetError,
  PlanoutError,
  PlanoutScriptError,
  PlanoutSyntaxError,
  type PlanoutErrorContext,
  type PlanoutSyntaxErrorDetails,
} from './errors.js';
export {
  DefaultExperiment,
  Experiment,
  ProductionExperiment,
  normalizeExperimentName,
  shortChecksum,
  type ExperimentInputs,
  type ExperimentParams,
  type LogExtras,
} from './experiment.js';
export { digestMod, digestToBigInt, digestToUnitFloat, sha1Digest } from './hash.js';
export {
  InterpretedExperiment,
  ScriptExperiment,
  loadPlanoutScript,
  type InterpretedExperimentOptions,
  type PlanoutScript,
} from './interpreted-experiment.js';
export * from './interpreter.js';
export { parsePlanoutJson, stringifyPlanoutJson } from './json.js';
export type { PlanoutLogRecord } from './log-record.js';
export { CPythonIntSet, SegmentLayout, SimpleNamespace, type ExperimentClass } from './namespace.js';
export {
  BernoulliFilter,
  BernoulliTrial,
  FastSample,
  RANDOM_OPERATORS,
  RandomFloat,
  RandomInteger,
  RandomOperator,
  Sample,
  UniformChoice,
  WeightedChoice,
  type BernoulliFilterArgs,
  type ChoiceArgs,
  type ProbabilityArgs,
  type RandomArgs,
  type RandomContext,
  type RandomOperatorLike,
  type RangeArgs,
  type SampleArgs,
  type WeightedChoiceArgs,
} from './ops/random.js';
export { SimpleExperiment } from './simple-experiment.js';
export {
  PY_REPR,
  PyFloat,
  pyEquals,
  pyRepr,
  pyStr,
  toPlain,
  toPyFloat,
  truthy,
  type PlanoutObject,
  type PlanoutValue,
} from './values.js';
