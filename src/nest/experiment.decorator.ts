import { Injectable } from '@nestjs/common';
import type { Assignment } from '../core/assignment.js';
import { Experiment as CoreExperiment, type ExperimentInputs, type ExperimentParams } from '../core/experiment.js';
import type { PlanoutInputResolver } from './planout-options.interface.js';
import { EXPERIMENT_METADATA } from './planout.constants.js';

/**
 * What an `@Experiment()` class implements: the assignment logic of one experiment.
 * The class is a singleton provider (constructor injection works); the module builds a
 * PlanOut experiment per request that delegates `assign` to it.
 */
export interface ExperimentDefinition<TParams extends object = ExperimentParams, TInputs extends object = ExperimentInputs> {
  /** Assigns the params of one unit; return `false` when the unit is not in the experiment. */
  assign(params: Assignment<TParams>, inputs: TInputs): unknown;
  /** Declared params: reading another name is not an exposure. */
  getParamNames?(): readonly string[] | undefined;
}

export interface ExperimentOptions<I extends object = ExperimentInputs> {
  /**
   * Logged experiment name. Defaults to the class name, which a minifier may change:
   * set it explicitly in bundled apps.
   */
  name?: string;
  /** Hashing salt; defaults to the name. Changing it reshuffles every unit. */
  salt?: string;
  /** Inputs of this experiment, instead of the module's `inputs` option. */
  inputs?: PlanoutInputResolver<I>;
  /**
   * The unit input(s), e.g. `['userid']`, instead of the module's `units` option. When one
   * is missing (`undefined`, `null` or `''`) the request is not in the experiment: params
   * read their defaults, nothing is logged, `missingUnit` is counted. Without a declaration
   * the units are the `unit` arguments of the operators `assign` draws with.
   */
  units?: readonly string[];
}

/**
 * A class the module accepts as an experiment: an `@Experiment()` definition, or a core
 * `Experiment` subclass (constructed per request with the inputs, no injection).
 */
export type ExperimentType<E extends ExperimentDefinition = ExperimentDefinition> = abstract new (...args: never[]) => E;

/** The params type an experiment declares, from its `assign(params: Assignment<P>, ...)`. */
export type ParamsOf<E> = E extends { assign(params: Assignment<infer P>, ...rest: never[]): unknown } ? P : never;

/** The inputs type an experiment declares, from the second argument of its `assign`. */
export type InputsOf<E> = E extends { assign(params: never, inputs: infer I): unknown } ? I : ExperimentInputs;

/** Names of the params of experiment class `C`: what `@Param(C, name)` accepts. */
export type ParamNameOf<C extends ExperimentType> = keyof ParamsOf<InstanceType<C>> & string;

type AsParams<P> = P extends ExperimentParams ? P : P & ExperimentParams;
type AsInputs<I> = I extends ExperimentInputs ? I : I & ExperimentInputs;

/** The per-request experiment instance of experiment class `C`. */
export type ExperimentInstanceOf<C extends ExperimentType> = CoreExperiment<
  AsParams<ParamsOf<InstanceType<C>>>,
  AsInputs<InputsOf<InstanceType<C>>>
>;

/** Marks a class as an experiment provider. */
export function experimentDecorator<I extends object = ExperimentInputs>(options: ExperimentOptions<I> = {}): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(EXPERIMENT_METADATA, { ...options }, target);
    Injectable()(target);
  };
}

/** The `@Experiment()` options of `target`, or undefined when it is not decorated. */
export function getExperimentOptions(target: object): ExperimentOptions | undefined {
  return Reflect.getOwnMetadata(EXPERIMENT_METADATA, target) as ExperimentOptions | undefined;
}

/**
 * Both the core abstract class (`class X extends Experiment<P> {}`) and the class
 * decorator (`@Experiment({ name, salt })`): one name, as PlanOut users expect.
 */
export const Experiment = new Proxy(CoreExperiment, {
  apply: (_target, _this, args: [ExperimentOptions?]) => experimentDecorator(...args),
}) as typeof CoreExperiment & (<I extends object = ExperimentInputs>(options?: ExperimentOptions<I>) => ClassDecorator);

export type Experiment<
  TParams extends ExperimentParams = ExperimentParams,
  TInputs extends ExperimentInputs = ExperimentInputs,
> = CoreExperiment<TParams, TInputs>;
