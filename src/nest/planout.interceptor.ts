import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor, type OnModuleInit } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { appInjectsPlanoutService } from './async-context-detection.js';
import { MANUAL_EXPOSURE_METADATA } from './planout.constants.js';
import { PlanoutRegistry } from './planout.registry.js';
import {
  attachedTo,
  attachState,
  callTarget,
  PlanoutRequestContext,
  registerContextSource,
  RequestState,
  runInContext,
  type PlanoutContextSource,
} from './request-context.js';

/**
 * Gives each request its experiment context: its state attached to the request (for the
 * param decorators) and, when `asyncContext` is on, active in AsyncLocalStorage while the
 * handler runs (for services). Nothing is assigned here; instances are built when first
 * used, so a route that reads no experiment costs one small object and one attach.
 * Guards and exception filters run outside this context.
 */
@Injectable()
export class PlanoutInterceptor implements NestInterceptor, PlanoutContextSource, OnModuleInit {
  // Route metadata is static: read it once per handler.
  private readonly autoExposureByHandler = new WeakMap<Function, boolean>();

  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly reflector: Reflector,
    private readonly modules: ModulesContainer,
  ) {}

  onModuleInit(): void {
    if (this.registry.asyncContextMode === 'auto') this.registry.asyncContext = appInjectsPlanoutService(this.modules);
    // Handlers this interceptor may not reach (a hybrid app's microservice handlers without
    // inheritAppConfig) still get their context from this app, built by the param decorators.
    const classes: Function[] = [];
    for (const module of this.modules.values()) {
      for (const group of [module.controllers, module.providers]) {
        for (const wrapper of group.values()) {
          if (typeof wrapper.metatype === 'function') classes.push(wrapper.metatype);
        }
      }
    }
    registerContextSource(classes, this);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const { key, input } = callTarget(context);
    if (key !== undefined) {
      // GraphQL runs the interceptor for the query and again for every field resolver: one context per request.
      const existing = attachedTo(key);
      if (existing !== undefined) {
        return this.registry.asyncContext ? runInContext(new PlanoutRequestContext(existing, input, context), () => next.handle()) : next.handle();
      }
      if (!this.registry.asyncContext) {
        // Only the state: the param decorators read through it, each with its own call's input.
        attachState(key, new RequestState(this.registry, this.autoExposureFor(context)));
        return next.handle();
      }
    }
    // Async context on, or a call without an object to attach to (a WebSocket message of a primitive).
    const created = PlanoutRequestContext.start(this.registry, input, context, this.autoExposureFor(context));
    if (key !== undefined) attachState(key, created.state);
    // Nest binds the handler's async scope when handle() is called, so run() around it suffices.
    return runInContext(created, () => next.handle());
  }

  /** The context of a call that no interceptor ran for (a hybrid app's microservice handler), built on its first read. */
  createContext(input: unknown, execution: ExecutionContext): PlanoutRequestContext {
    return PlanoutRequestContext.start(this.registry, input, execution, this.autoExposureFor(execution));
  }

  private autoExposureFor(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let auto = this.autoExposureByHandler.get(handler);
    if (auto === undefined) {
      const manual = this.reflector.getAllAndOverride<boolean | undefined>(MANUAL_EXPOSURE_METADATA, [handler, context.getClass()]);
      auto = this.registry.autoExposureLogging ? manual !== true : manual === false;
      this.autoExposureByHandler.set(handler, auto);
    }
    return auto;
  }
}
