/**
 * The parse pool's worker module, in CommonJS (parse-pool.ts hands piscina this file).
 *
 * Piscina loads a worker's module with `require()`, and on Node 20 `require()` of an ES
 * module runs its loading synchronously. A parse over its time budget terminates its
 * worker, and when that worker was still loading (a replacement, on a busy machine) the
 * termination inside that synchronous load aborted the whole process (`FATAL ERROR:
 * v8::Module::IsGraphAsync must be used on an instantiated module`). This file needs no
 * ES module to load; it imports the task (parse-worker.ts) with `import()`, which a
 * termination stops cleanly.
 */
export = async function parseInWorker(task: unknown): Promise<unknown> {
  const { default: parseTask } = await import('./parse-worker.js');
  return parseTask(task as Parameters<typeof parseTask>[0]);
};
