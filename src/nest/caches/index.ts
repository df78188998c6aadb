export { CacheManagerExposureCache } from './cache-manager-exposure.cache.js';
export type { CacheManagerCache, CacheManagerExposureCacheOptions } from './cache-manager-exposure.cache.js';
export { InMemoryExposureCache } from './in-memory-exposure.cache.js';
export type { InMemoryExposureCacheOptions } from './in-memory-exposure.cache.js';
export { createRedisExposureCache, RedisExposureCache } from './redis-exposure.cache.js';
export type { RedisExposureCacheOptions } from './redis-exposure.cache.js';
