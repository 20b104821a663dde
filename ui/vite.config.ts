import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The app window runs under a strict CSP (no inline scripts or styles), so the build must emit
// plain script and CSS files: Svelte's component CSS is extracted (the plugin's default), and the
// module-preload polyfill, which Vite would otherwise inline, is turned off.
export default defineConfig({
  plugins: [svelte()],
  base: "./",
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: ["es2022", "safari15"],
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 300,
  },
});
