import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The sidebar is served from the app bundle: no dev server or network at
// run time, one small script and stylesheet.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: {
    target: "safari15",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // The sidebar, and the selection overlay shown on each monitor.
    rollupOptions: { input: { main: "index.html", overlay: "overlay.html" } },
  },
});
