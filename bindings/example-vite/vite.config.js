// The package is linked from bindings/pkg (`file:../pkg`), which Vite resolves to its real folder,
// outside this app's: the dev server serves only allowed folders, so without this it answers the
// package's .wasm with 403 and the page stays blank. A package installed from a registry lives in
// node_modules and needs none of this. (`vite build` reads files directly and never needed it.)
import { defineConfig, searchForWorkspaceRoot } from "vite";

export default defineConfig({
  server: {
    fs: {
      allow: [searchForWorkspaceRoot(process.cwd()), "../pkg"],
    },
  },
});
