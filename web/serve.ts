// A tiny static server for web/dist (npm run web). By default it sends the cross-origin-isolation headers
// (COOP/COEP) that let onnxruntime-web use threads; --no-isolation leaves them out (single-threaded WASM).
// Options: --dir DIR (default web/dist) --port N (default 8080; 0: any free port) --host H (default 127.0.0.1) --no-isolation
import { createReadStream, statSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

/** Serves `dir` on host:port; resolves once listening, with the server and its URL. */
export function serveStatic(dir: string, opts: { port?: number; host?: string; isolation?: boolean } = {}): Promise<{ server: Server; url: string }> {
  const root = resolve(dir);
  const isolation = opts.isolation ?? true;
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const st = statSync(file);
      const headers: Record<string, string | number> = { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': st.size, 'Cache-Control': 'no-cache' };
      if (isolation) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
      res.writeHead(200, headers);
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      const a = server.address() as AddressInfo;
      ok({ server, url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/` });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, 'no-isolation': { type: 'boolean', default: false } },
  });
  const dir = values.dir ?? join(dirname(fileURLToPath(import.meta.url)), 'dist');
  const port = Number(values.port);
  try {
    statSync(join(dir, 'index.html'));
  } catch {
    process.stderr.write(`${dir}: no index.html (run npm run web:build first)\n`);
    process.exit(1);
  }
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
    process.stderr.write(`--port must be 0..65535, got ${values.port}\n`);
    process.exit(2);
  }
  serveStatic(dir, { port, host: values.host, isolation: !values['no-isolation'] }).then(
    ({ url }) => process.stderr.write(`serving ${dir} at ${url} (${values['no-isolation'] ? 'no cross-origin isolation: single-threaded WASM' : 'cross-origin isolated: WASM threads'}); Ctrl-C stops\n`),
    (e) => {
      process.stderr.write(`cannot serve on ${values.host}:${port}: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
