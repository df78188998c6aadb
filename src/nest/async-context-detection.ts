import type { ModulesContainer } from '@nestjs/core';
import { PlanoutService } from './planout.service.js';

// Nest's metadata keys (@nestjs/common/constants).
const PARAMTYPES_METADATA = 'design:paramtypes';
const SELF_DECLARED_DEPS_METADATA = 'self:paramtypes';
const PROPERTY_DEPS_METADATA = 'self:properties_metadata';

interface WrapperLike {
  readonly metatype?: Function | null;
  readonly inject?: readonly unknown[] | null;
  readonly instance?: unknown;
}

/**
 * Whether any provider, controller, enhancer or middleware of the app has `PlanoutService`
 * injected: through its constructor (by type or `@Inject(PlanoutService)`), a property
 * (`@Inject()`), or a factory's `inject` list. Read from the DI metadata at bootstrap;
 * it does not see `moduleRef.get(PlanoutService)` at run time nor lazily loaded modules.
 */
export function appInjectsPlanoutService(container: ModulesContainer): boolean {
  for (const module of container.values()) {
    const groups = [module.providers, module.controllers, module.injectables, module.middlewares];
    for (const group of groups) {
      for (const wrapper of group.values() as Iterable<WrapperLike>) {
        if (wrapperInjectsService(wrapper)) return true;
      }
    }
  }
  return false;
}

function wrapperInjectsService(wrapper: WrapperLike): boolean {
  if (wrapper.inject?.some(isServiceToken) === true) return true;
  const type = wrapper.metatype;
  if (typeof type !== 'function' || type === PlanoutService) return false;
  const paramTypes = Reflect.getMetadata(PARAMTYPES_METADATA, type) as unknown[] | undefined;
  if (paramTypes?.some(isServiceToken) === true) return true;
  const declared = Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, type) as Array<{ param: unknown }> | undefined;
  if (declared?.some((d) => isServiceToken(d.param)) === true) return true;
  const properties = Reflect.getMetadata(PROPERTY_DEPS_METADATA, type) as Array<{ type: unknown }> | undefined;
  return properties?.some((p) => isServiceToken(p.type)) === true;
}

function isServiceToken(token: unknown): boolean {
  if (token === PlanoutService) return true;
  // `inject: [{ token: PlanoutService, optional: true }]`, `forwardRef(() => PlanoutService)`.
  if (typeof token === 'object' && token !== null) {
    const t = token as { token?: unknown; forwardRef?: () => unknown };
    if (t.token === PlanoutService) return true;
    if (typeof t.forwardRef === 'function') {
      try {
        return t.forwardRef() === PlanoutService;
      } catch {
        return false;
      }
    }
  }
  return false;
}
