/** Options of an `@Experiment` class. */
export const EXPERIMENT_METADATA = 'planout:experiment';
/** `@ManualExposure()` on a handler or controller. */
export const MANUAL_EXPOSURE_METADATA = 'planout:manual-exposure';
/** Nest logger context of everything the module logs. */
export const PLANOUT_LOG_CONTEXT = 'Planout';
