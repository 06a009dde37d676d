import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

// Tauri serves `dist/` at the webview root in production and points the
// webview at the dev server (devUrl http://localhost:1420) during `tauri dev`.
export default defineConfig({
  plugins: [
    svelte(),
    // Test-only (no-op outside Vitest): resolve Svelte's browser build and
    // clean up mounted components after each test.
    svelteTesting(),
  ],
  // Keep Rust/Tauri CLI output visible when both run in one terminal.
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    watch: {
      // The Rust side lives next to this folder; never reload on its changes.
      ignored: ['**/src-tauri/**', '**/target/**'],
    },
  },
  build: {
    outDir: 'dist',
    // Tauri on Linux/macOS renders with WebKit (WebKitGTK / WKWebView).
    target: 'safari16',
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
  },
});
