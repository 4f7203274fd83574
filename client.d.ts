/**
 * `import.meta.hot` for project code, as Vite's `vite/client` types it. Every
 * module a node runs is compiled with `import.meta.hot` defined (cli/save/compiler),
 * so it is never undefined there. Add it to a project's tsconfig:
 * `"types": ["node", "devcluster/client"]` (the starter's tsconfig does).
 */
interface ImportMeta {
  /** This module instance's hot context: `data` kept across versions, timers and listeners cleared at replacement. */
  readonly hot: import("./dist/runtime/index").HotContext;
}
