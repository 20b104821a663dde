import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

export default {
  preprocess: vitePreprocess({ script: false }),
  compilerOptions: {
    // Extract component CSS into the bundle's .css file: the CSP forbids injected <style> elements.
    css: "external",
    runes: true,
  },
};
