import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { PlanoutError } from '../core/errors.js';
import type { ExperimentType, ParamNameOf } from './experiment.decorator.js';
import type { NamespaceType } from './planout-options.interface.js';
import { MANUAL_EXPOSURE_METADATA } from './planout.constants.js';
import { contextOf, type PlanoutRequestContext } from './request-context.js';

interface ParamRef {
  /** A class, or the name of a data-defined experiment or namespace. */
  readonly type: Function | string;
  readonly name?: string;
  readonly defaultValue?: unknown;
  readonly namespace?: boolean;
}

function requestContext(ctx: ExecutionContext, type: Function | string): PlanoutRequestContext {
  const found = contextOf(ctx);
  if (found === undefined) {
    const handler = `${ctx.getClass().name}.${ctx.getHandler().name}`;
    throw new PlanoutError(
      `no Planout context for ${handler} (${ctx.getType<string>()}): import PlanoutModule in the module tree of the app that serves it; ` +
        'for microservice handlers of a hybrid app, pass { inheritAppConfig: true } to connectMicroservice() ' +
        `or add @UseInterceptors(PlanoutInterceptor) to ${ctx.getClass().name}`,
      { experiment: typeof type === 'string' ? type : type.name },
    );
  }
  return found;
}

const paramFactory = createParamDecorator((ref: ParamRef, ctx: ExecutionContext): unknown => {
  const state = requestContext(ctx, ref.type);
  if (ref.namespace === true) {
    const namespace = state.namespace(ref.type);
    return ref.name === undefined ? namespace : namespace.get(ref.name, ref.defaultValue);
  }
  const experiment = state.experiment(ref.type);
  return ref.name === undefined ? experiment : experiment.get(ref.name, ref.defaultValue);
});

/**
 * Injects param `name` of `experiment` (a class, or the name of a data-defined experiment)
 * for the current request's unit. Reading it is an exposure (auto-logged once per request,
 * deduplicated across requests) unless the route is `@ManualExposure()`. `defaultValue`
 * is used when the param was not assigned.
 */
export function Param<C extends ExperimentType>(experiment: C, name: ParamNameOf<C>, defaultValue?: unknown): ParameterDecorator;
export function Param(experiment: string, name: string, defaultValue?: unknown): ParameterDecorator;
export function Param(experiment: ExperimentType | string, name: string, defaultValue?: unknown): ParameterDecorator {
  return paramFactory({ type: experiment, name, defaultValue });
}

/** Alias of {@link Param}, for controllers that use Nest's own `@Param` for route params. */
export const ExperimentParam = Param;

/**
 * Injects the current request's instance of `experiment` (type it as
 * `ExperimentInstanceOf<typeof X>`), or of a data-defined experiment by name (type it as `Experiment`).
 */
export function ExperimentInstance(experiment: ExperimentType | string): ParameterDecorator {
  return paramFactory({ type: experiment });
}

/** Injects param `name` of the current request's unit in `namespace` (its experiment's, else the default). */
export function NamespaceParam(namespace: NamespaceType | string, name: string, defaultValue?: unknown): ParameterDecorator {
  return paramFactory({ type: namespace, name, defaultValue, namespace: true });
}

/** Injects the current request's instance of `namespace`. */
export function NamespaceInstance(namespace: NamespaceType | string): ParameterDecorator {
  return paramFactory({ type: namespace, namespace: true });
}

/**
 * Turns auto-exposure off on a handler or a whole controller: reading params logs
 * nothing, call `PlanoutService.logExposure` when the unit really sees the treatment.
 * `@ManualExposure(false)` on a handler re-enables it inside a manual controller.
 */
export function ManualExposure(manual = true): ClassDecorator & MethodDecorator {
  return SetMetadata(MANUAL_EXPOSURE_METADATA, manual);
}
