import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The API server `npm run dev` proxies to: `switchboard serve --port 8080`. */
const API = 'http://127.0.0.1:8080';

/**
 * The web inbox: built into web/dist (index.html and hashed files under assets/), which
 * the server serves at `/` with an SPA fallback. In development, `vite` serves the app
 * and hands the API's paths to a running server, so the session cookie stays same-origin.
 */
export default defineConfig({
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true, target: 'es2022' },
  server: {
    proxy: {
      '/v1': { target: API, changeOrigin: false },
      '/mcp': { target: API, changeOrigin: false },
      '/docs': { target: API, changeOrigin: false },
    },
  },
});
