import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { PlanoutModuleOptions } from './planout-options.interface.js';

export const {
  ConfigurableModuleClass: ConfigurablePlanoutModule,
  MODULE_OPTIONS_TOKEN,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<PlanoutModuleOptions>({ moduleName: 'Planout' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createPlanoutOptions')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** What `PlanoutModule.forRootAsync` accepts: `useFactory` / `useClass` / `useExisting`, `inject`, `imports`, `isGlobal`. */
export type PlanoutModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;

/** A class for `forRootAsync({ useClass })` / `useExisting`. */
export interface PlanoutOptionsFactory {
  createPlanoutOptions(): PlanoutModuleOptions | Promise<PlanoutModuleOptions>;
}
